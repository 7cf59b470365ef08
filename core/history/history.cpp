#include "history/history.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sys/file.h>
#include <unistd.h>

#include "util/fs.hpp"

namespace offload {

namespace {

constexpr size_t kMinSamples = 5;

/// Nearest-rank percentile as the original computes it: index round(p * (len - 1)).
double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  auto idx = static_cast<size_t>(std::llround(p * static_cast<double>(values.size() - 1)));
  return values[std::min(idx, values.size() - 1)];
}

/// p75 of a reservoir's durations, nullopt below kMinSamples (too few to trust).
std::optional<double> p75(const std::vector<HistorySample>& samples) {
  if (samples.size() < kMinSamples) {
    return std::nullopt;
  }
  std::vector<double> secs;
  secs.reserve(samples.size());
  for (const auto& s : samples) {
    secs.push_back(s.secs);
  }
  return percentile(std::move(secs), 0.75);
}

/// Read a history file: nullopt + *error if it exists but cannot be read; a
/// missing file is empty text.
std::optional<std::string> read_history_text(const std::string& path, std::string* error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return std::string();
  }
  return read_file(path, error);
}

/// An exclusive flock held for the lifetime of the object.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0) {
      m_error = path + ": " + std::strerror(errno);
      return;
    }
    while (::flock(m_fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        m_error = path + ": flock: " + std::strerror(errno);
        return;
      }
    }
  }
  ~FileLock() {
    if (m_fd >= 0) {
      ::close(m_fd);  // releases the lock
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  const std::string& error() const { return m_error; }

 private:
  int m_fd = -1;
  std::string m_error;
};

} // namespace

History History::load(const HistoryOptions& opts) {
  History h;
  h.m_opts = opts;
  std::string err;
  auto text = read_history_text(opts.path, &err);
  if (!text) {
    h.m_warnings.push_back("history not loaded: " + err);
  } else {
    h.m_records = parse_history(*text, opts.path, h.capacity(), &h.m_warnings);
  }
  h.m_base = h.m_records;
  h.update_config_mean();
  return h;
}

size_t History::capacity() const {
  return static_cast<size_t>(std::max(1, m_opts.reservoir_size));
}

const HistoryValues* History::find(const std::string& test_id) const {
  auto it = m_records.find(HistoryKey{m_opts.config_key, test_id});
  return it == m_records.end() ? nullptr : &it->second.v;
}

size_t History::size() const {
  auto lo = m_records.lower_bound(HistoryKey{m_opts.config_key, ""});
  size_t n = 0;
  for (auto it = lo; it != m_records.end() && it->first.config == m_opts.config_key; ++it) {
    ++n;
  }
  return n;
}

bool History::empty() const {
  return size() == 0;
}

void History::update_config_mean() {
  double sum = 0;
  size_t count = 0;
  auto lo = m_records.lower_bound(HistoryKey{m_opts.config_key, ""});
  for (auto it = lo; it != m_records.end() && it->first.config == m_opts.config_key; ++it) {
    if (auto p = p75(it->second.v.ok)) {
      sum += *p;
      ++count;
    }
  }
  m_config_mean = count > 0 ? std::optional<double>(sum / static_cast<double>(count)) : std::nullopt;
}

std::optional<double> History::failure_rate(const std::string& test_id) const {
  const HistoryValues* v = find(test_id);
  if (!v || v->n == 0) {
    return std::nullopt;
  }
  return std::clamp(static_cast<double>(v->f) / static_cast<double>(v->n), 0.0, 1.0);
}

History::Estimate History::estimate(const std::string& test_id) const {
  if (const HistoryValues* v = find(test_id)) {
    const auto ok = p75(v->ok);
    const auto fail = p75(v->fail);
    const double rate = failure_rate(test_id).value_or(0.0);
    if (ok && fail) {
      return {(1.0 - rate) * *ok + rate * *fail, true};
    }
    if (ok) {
      return {*ok, true};
    }
    if (fail) {
      return {*fail, true};
    }
  }
  if (m_config_mean) {
    return {*m_config_mean, false};
  }
  return {m_opts.default_duration_secs, false};
}

void History::record(const std::vector<TestResult>& results, int64_t timestamp_ms,
                     const std::string& run_id) {
  const uint64_t ts = timestamp_ms > 0 ? static_cast<uint64_t>(timestamp_ms) : 0;
  for (const auto& result : results) {
    HistoryRecord* rec = nullptr;
    uint64_t index = 0;
    for (const auto& attempt : result.attempts) {
      const bool passed = attempt.status == AttemptStatus::Passed;
      const bool failed = attempt.status == AttemptStatus::Failed || attempt.status == AttemptStatus::Error;
      if (!passed && !failed) {
        continue;
      }
      if (!rec) {
        rec = &m_records[HistoryKey{m_opts.config_key, result.id}];
        rec->raw.clear();
        rec->v.last_run = run_id;
      }
      rec->v.n += 1;
      rec->v.f += failed ? 1 : 0;
      HistorySample sample{run_id, ts + index, attempt.duration_secs};
      reservoir_insert(passed ? rec->v.ok : rec->v.fail, std::move(sample), capacity());
      ++index;
    }
  }
  update_config_mean();
}

std::string History::save() {
  namespace fs = std::filesystem;
  const fs::path target(m_opts.path);
  if (target.has_parent_path()) {
    if (auto err = make_dirs(target.parent_path().string()); !err.empty()) {
      return err;
    }
  }
  FileLock lock(m_opts.path + ".lock");
  if (!lock.error().empty()) {
    return lock.error();
  }
  std::string err;
  auto text = read_history_text(m_opts.path, &err);
  if (!text) {
    return "cannot re-read history before saving: " + err;
  }
  std::vector<std::string> disk_warnings;
  HistoryMap disk = parse_history(*text, m_opts.path, capacity(), &disk_warnings);
  for (auto& w : disk_warnings) {
    m_warnings.push_back(w + " (dropped on save)");
  }
  HistoryMap merged = merge_histories(m_base, m_records, disk, capacity());
  std::string out = serialize_history(merged);
  if (out != *text) {
    if (auto werr = write_file_atomic(m_opts.path, out); !werr.empty()) {
      return werr;
    }
  }
  m_base = merged;
  m_records = std::move(merged);
  update_config_mean();
  return {};
}

int history_merge_files(const std::string& base, const std::string& ours, const std::string& theirs,
                        int reservoir_size, std::string* error) {
  const size_t cap = static_cast<size_t>(std::max(1, reservoir_size));
  std::vector<std::string> warnings;
  HistoryMap maps[3];
  const std::string* paths[3] = {&base, &ours, &theirs};
  for (int i = 0; i < 3; ++i) {
    std::string err;
    auto text = read_history_text(*paths[i], &err);
    if (!text) {
      if (error) {
        *error = err;
      }
      return 1;
    }
    maps[i] = parse_history(*text, *paths[i], cap, &warnings);
  }
  HistoryMap merged = merge_histories(maps[0], maps[1], maps[2], cap);
  if (auto err = write_file_atomic(ours, serialize_history(merged)); !err.empty()) {
    if (error) {
      *error = err;
    }
    return 1;
  }
  if (error) {
    error->clear();
    for (const auto& w : warnings) {
      *error += w + "\n";
    }
  }
  return 0;
}

std::string new_run_id() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    const auto now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ now ^ static_cast<uint64_t>(::getpid());
  }());
  std::uniform_int_distribution<size_t> pick(0, 61);
  std::string id;
  for (int i = 0; i < 4; ++i) {
    id += kAlphabet[pick(rng)];
  }
  return id;
}

} // namespace offload
