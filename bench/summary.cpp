#include "bench/summary.hpp"

#include <unistd.h>

#include <cstdio>

#include "bench/names.hpp"

namespace e3x::bench {

CollectingReporter::CollectingReporter()
    : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

void CollectingReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.error_occurred) {
      any_error_ = true;
      continue;
    }
    Samples& samples = samples_[run.run_name.str()];
    const double ns =
        run.GetAdjustedCPUTime() * 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
    if (run.run_type == Run::RT_Aggregate) {
      if (run.aggregate_name != "median") continue;
      Figure median{ns, {}};
      for (const auto& [name, counter] : run.counters) median.counters[name] = counter.value;
      samples.median = median;
    } else {
      samples.sum.ns += ns;
      for (const auto& [name, counter] : run.counters) samples.sum.counters[name] += counter.value;
      samples.runs += 1;
    }
  }
  ConsoleReporter::ReportRuns(runs);
}

std::optional<Figure> CollectingReporter::figure(const std::string& name) const {
  auto it = samples_.find(name);
  if (it == samples_.end()) return std::nullopt;
  const Samples& samples = it->second;
  if (samples.median) return samples.median;
  if (samples.runs == 0) return std::nullopt;
  Figure mean = samples.sum;
  mean.ns /= samples.runs;
  for (auto& [name, value] : mean.counters) value /= samples.runs;
  return mean;
}

namespace {

std::string format_time(double ns) {
  char text[32];
  if (ns >= 1e6) {
    std::snprintf(text, sizeof text, "%.2f ms", ns / 1e6);
  } else if (ns >= 1e4) {
    std::snprintf(text, sizeof text, "%.1f us", ns / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f ns", ns);
  }
  return text;
}

std::string format_number(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

class Summary {
 public:
  Summary(const CollectingReporter& results, std::ostream& out) : results_(results), out_(out) {}

  std::optional<double> ns(const std::string& name) const {
    const auto figure = results_.figure(name);
    return figure ? std::optional<double>(figure->ns) : std::nullopt;
  }
  std::optional<double> counter(const std::string& name, const char* counter) const {
    const auto figure = results_.figure(name);
    if (!figure) return std::nullopt;
    auto it = figure->counters.find(counter);
    return it == figure->counters.end() ? std::nullopt : std::optional<double>(it->second);
  }

  void header() {
    out_ << "\n== Crypto path: each figure beside its limit, measured in this run "
            "(CPU time per operation) ==\n";
    row("figure", "time", "limit", "limit time", "ratio");
  }

  // One table row; skipped when either side did not run (a --benchmark_filter).
  void compare(const std::string& figure, std::optional<double> figure_ns, const std::string& limit,
               std::optional<double> limit_ns) {
    if (!figure_ns || !limit_ns) return;
    row(figure, format_time(*figure_ns), limit, format_time(*limit_ns),
        format_number("%.2fx", *figure_ns / *limit_ns));
  }
  void compare(const std::string& figure, const std::string& limit) {
    compare(figure, ns(figure), limit, ns(limit));
  }

  // A target line: "MET: ..." or "NOT MET: ...", or "n/a" when its figures did not run.
  void verdict(const std::string& target, std::optional<bool> met, const std::string& detail) {
    if (!met) {
      out_ << "n/a: " << target << " (not run)\n";
      return;
    }
    out_ << (*met ? "MET: " : "NOT MET: ") << target << " -- " << detail << "\n";
  }

  std::ostream& out() { return out_; }

 private:
  void row(const std::string& a, const std::string& b, const std::string& c, const std::string& d,
           const std::string& e) {
    char line[256];
    std::snprintf(line, sizeof line, "%-22s %10s   %-44s %10s %8s\n", a.c_str(), b.c_str(),
                  c.c_str(), d.c_str(), e.c_str());
    out_ << line;
  }

  const CollectingReporter& results_;
  std::ostream& out_;
};

std::optional<double> sum(std::optional<double> a, std::optional<double> b) {
  return a && b ? std::optional<double>(*a + *b) : std::nullopt;
}

}  // namespace

void print_summary(const CollectingReporter& results, std::ostream& out) {
  Summary s(results, out);
  s.header();

  for (std::int64_t size : kMessageSizes) {
    s.compare(sized(kMessageSeal, size), sized(kRawMessageSeal, size));
    s.compare(sized(kMessageOpen, size), sized(kRawMessageOpen, size));
  }
  for (std::int64_t size : kChannelSizes) {
    s.compare(sized(kChannelSeal, size), sized(kRawChannelSeal, size));
    s.compare(sized(kChannelOpen, size), sized(kRawChannelOpen, size));
  }
  if (const auto nonce = s.ns(kRawRandom24)) {
    out << "  the per-packet nonce in the limit (" << kRawRandom24
        << ", a getrandom system call): " << format_time(*nonce) << "\n";
  }
  if (const auto nonce = s.ns(kKeystreamRandom24)) {
    out << "  the per-packet nonce in channel_seal (" << kKeystreamRandom24
        << ", the daemon's user-space keystream): " << format_time(*nonce) << "\n";
  }

  // Cold: the X25519 count is read from EndpointStats by the benchmark. The limit
  // prices each at one crypto_box_beforenm; one of them is the exchange's ephemeral key
  // generation (Exchange constructor: a fixed-base multiplication, cheaper), so the exact
  // mix is the stricter limit and is shown too.
  const auto cold = s.ns(kHandshakeCold);
  const auto warm = s.ns(kHandshakeWarm);
  const auto x25519 = s.ns(kRawX25519);
  const auto x25519_base = s.ns(kRawScalarmultBase);
  const auto cold_count = s.counter(kHandshakeCold, kX25519Counter);
  const auto warm_count = s.counter(kHandshakeWarm, kX25519Counter);
  std::optional<double> cold_limit, cold_exact_limit;
  if (x25519 && cold_count) cold_limit = *cold_count * *x25519;
  if (x25519 && x25519_base && cold_count && *cold_count >= 1) {
    cold_exact_limit = (*cold_count - 1) * *x25519 + *x25519_base;
  }
  const std::string n = cold_count ? format_number("%.0f", *cold_count) : "n";
  s.compare(kHandshakeCold, cold, n + " x " + kRawX25519, cold_limit);
  s.compare(kHandshakeCold, cold,
            format_number("%.0f", cold_count.value_or(1) - 1) + " x " + kRawX25519 + " + 1 x base",
            cold_exact_limit);
  s.compare(kHandshakeWarm, warm, sized(kRawMessageOpen, 34) + " + seal/34",
            sum(s.ns(sized(kRawMessageOpen, 34)), s.ns(sized(kRawMessageSeal, 34))));
  s.compare(kHandshakeWarm, warm, kHandshakeCold, cold);
  if (cold_count) out << "X25519 per cold handshake: " << *cold_count << "\n";
  if (warm_count) out << "X25519 per warm handshake: " << *warm_count << "\n";

  out << "\n== Targets (issue 5, crypto path) ==\n";
  s.verdict("a warm keepalive handshake costs no X25519",
            warm_count ? std::optional<bool>(*warm_count == 0) : std::nullopt,
            "measured " + format_number("%.2f", warm_count.value_or(0)) + " per handshake");
  const bool have_both = cold && warm;
  s.verdict("a warm keepalive handshake is >= 20x cheaper than a cold one",
            have_both ? std::optional<bool>(*cold >= 20 * *warm) : std::nullopt,
            have_both ? format_number("cold/warm = %.1fx", *cold / *warm) : "");
  const auto cold_verdict = [&](const char* which, std::optional<double> limit) {
    s.verdict(
        std::string("cold handshakes/s per core >= 80% of what their X25519 allow (") + which + ")",
        cold && limit ? std::optional<bool>(*cold <= 1.25 * *limit) : std::nullopt,
        cold && limit
            ? format_time(*cold) + " vs limit " + format_time(*limit) +
                  format_number(": %.0f%% of the X25519 rate (need >= 80%%)", 100 * *limit / *cold)
            : "");
  };
  cold_verdict("each X25519 priced at one crypto_box_beforenm", cold_limit);
  cold_verdict("stricter: key generation priced at crypto_scalarmult_base", cold_exact_limit);
  for (const char* op : {kChannelSeal, kChannelOpen}) {
    const std::string figure = sized(op, 1400);
    const std::string limit = std::string("raw_") + figure;
    const auto figure_ns = s.ns(figure), limit_ns = s.ns(limit);
    s.verdict(
        figure + " within 1.3x of " + limit,
        figure_ns && limit_ns ? std::optional<bool>(*figure_ns <= 1.3 * *limit_ns) : std::nullopt,
        figure_ns && limit_ns ? format_number("%.2fx", *figure_ns / *limit_ns) : "");
  }
}

}  // namespace e3x::bench
