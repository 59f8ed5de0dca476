// e3x_crypto_bench: the crypto path of issue 5. Runs the registered benchmarks (the usual
// Google Benchmark flags apply), then prints each figure beside its libsodium limit and the
// targets as MET / NOT MET. Exits non-zero only when a benchmark failed its own sanity
// check (for example a handshake that was dropped), never because of a timing.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <iostream>

#include "bench/summary.hpp"

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::cerr << "e3x_crypto_bench: libsodium could not be initialised\n";
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::cout << "libsodium " << sodium_version_string() << "\n";
  e3x::bench::CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::cout.flush();
  e3x::bench::print_summary(reporter, std::cout);
  if (reporter.any_error()) {
    std::cerr << "e3x_crypto_bench: a benchmark reported an error (see above)\n";
    return 1;
  }
  return 0;
}
