// Collects benchmark results while printing the usual console table, then prints every
// figure beside its limit with the ratio, and the issue 5 targets as MET / NOT MET lines.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace e3x::bench {

// One benchmark's result: CPU time per iteration in nanoseconds (the median when
// repetitions ran, else the mean of its runs) and its user counters.
struct Figure {
  double ns = 0;
  std::map<std::string, double> counters;
};

class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  // Colour only on a terminal: the library's --benchmark_color handling applies to its own
  // reporter, not to one passed in, and logs of run-crypto.sh should stay plain text.
  CollectingReporter();
  void ReportRuns(const std::vector<Run>& runs) override;

  std::optional<Figure> figure(const std::string& name) const;
  bool any_error() const { return any_error_; }

 private:
  struct Samples {
    std::optional<Figure> median;
    Figure sum;  // of plain runs, for the mean
    int runs = 0;
  };
  std::map<std::string, Samples> samples_;
  bool any_error_ = false;
};

// CPU time is used rather than wall time: the figures are "per core", and the machine may
// be shared while they run.
void print_summary(const CollectingReporter& results, std::ostream& out);

}  // namespace e3x::bench
