#include "report/junit.hpp"


#include <pugixml.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>

#include "util/fs.hpp"
#include "util/strings.hpp"

namespace offload {

namespace {

// ---------------------------------------------------------------- parsing

/// Concatenated character data (PCDATA and CDATA) directly inside an element.
std::string own_text(const pugi::xml_node& node) {
  std::string out;
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      out += child.value();
    }
  }
  return out;
}

/// Text of every direct child element called `name`, concatenated.
std::string child_texts(const pugi::xml_node& node, const char* name) {
  std::string out;
  for (pugi::xml_node child : node.children(name)) {
    out += own_text(child);
  }
  return out;
}

/// JUnit times are seconds as decimals; anything unparsable, negative or
/// non-finite counts as 0 rather than failing the whole file.
double parse_time(const char* s) {
  std::string_view v = trim(s);
  if (v.empty()) {
    return 0;
  }
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d) || d < 0) {
    return 0;
  }
  return d;
}

bool is_retry_element(std::string_view n) {
  return n == "flakyFailure" || n == "flakyError" || n == "rerunFailure" || n == "rerunError";
}

JunitCase parse_case(const pugi::xml_node& tc, const std::string& inherited_file) {
  JunitCase c;
  c.name = tc.attribute("name").value();
  c.classname = tc.attribute("classname").value();
  c.file = tc.attribute("file") ? tc.attribute("file").value() : inherited_file;
  c.time = parse_time(tc.attribute("time").value());

  // The first of failure/error/skipped decides, except that a failure anywhere
  // beats an error (a test that failed and then errored in teardown failed).
  pugi::xml_node decisive;
  pugi::xml_node first_failure;
  for (pugi::xml_node child : tc.children()) {
    if (child.type() != pugi::node_element) {
      continue;
    }
    std::string_view n = child.name();
    if (n == "failure" && !first_failure) {
      first_failure = child;
    }
    if (!decisive && (n == "failure" || n == "error" || n == "skipped")) {
      decisive = child;
    }
    if (is_retry_element(n)) {
      JunitRetry r;
      r.kind = std::string(n);
      r.message = child.attribute("message").value();
      r.type = child.attribute("type").value();
      r.text = own_text(child);
      if (r.text.empty()) {
        r.text = child_texts(child, "stackTrace");
      }
      r.system_out = child_texts(child, "system-out");
      r.system_err = child_texts(child, "system-err");
      c.retries.push_back(std::move(r));
    } else if (n == "properties") {
      for (pugi::xml_node p : child.children("property")) {
        std::string value = p.attribute("value") ? p.attribute("value").value() : own_text(p);
        c.properties.emplace_back(p.attribute("name").value(), std::move(value));
      }
    } else if (n == "system-out") {
      c.system_out += own_text(child);
    } else if (n == "system-err") {
      c.system_err += own_text(child);
    }
  }
  if (decisive && std::string_view(decisive.name()) == "error" && first_failure) {
    decisive = first_failure;
  }
  if (decisive) {
    std::string_view n = decisive.name();
    c.status = n == "failure" ? AttemptStatus::Failed
               : n == "error" ? AttemptStatus::Error
                              : AttemptStatus::Skipped;
    c.message = decisive.attribute("message").value();
    c.type = decisive.attribute("type").value();
    c.text = own_text(decisive);
  }
  return c;
}

void collect_cases(const pugi::xml_node& node, const std::string& inherited_file,
                   std::vector<JunitCase>& out) {
  std::string file = node.attribute("file") ? node.attribute("file").value() : inherited_file;
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) {
      continue;
    }
    std::string_view n = child.name();
    if (n == "testcase") {
      out.push_back(parse_case(child, file));
    } else if (n == "testsuite" || n == "testsuites") {
      collect_cases(child, file, out);
    }
  }
}

size_t line_of_offset(std::string_view text, ptrdiff_t offset) {
  size_t end = std::min(text.size(), static_cast<size_t>(std::max<ptrdiff_t>(offset, 0)));
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<ptrdiff_t>(end), '\n'));
}

// ---------------------------------------------------------------- writing

/// Escape already xml_safe text for element content. \r is kept as a
/// character reference so parsers do not fold \r\n into \n.
void append_text_escaped(std::string& out, std::string_view s) {
  // Copy runs without special characters in one go (most text has none).
  for (;;) {
    size_t k = s.find_first_of("&<>\r");
    out.append(s.substr(0, k));
    if (k == std::string_view::npos) {
      return;
    }
    switch (s[k]) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    default: out += "&#13;"; break; // '\r'
    }
    s.remove_prefix(k + 1);
  }
}

/// Escape already xml_safe text for a double-quoted attribute value;
/// whitespace controls become references so attribute normalisation keeps them.
void append_attr_escaped(std::string& out, std::string_view s) {
  for (;;) {
    size_t k = s.find_first_of("&<>\"\n\r\t");
    out.append(s.substr(0, k));
    if (k == std::string_view::npos) {
      return;
    }
    switch (s[k]) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\n': out += "&#10;"; break;
    case '\r': out += "&#13;"; break;
    default: out += "&#9;"; break; // '\t'
    }
    s.remove_prefix(k + 1);
  }
}

/// Seconds with three decimals, independent of the C locale.
std::string format_secs(double secs) {
  if (!std::isfinite(secs) || secs < 0) {
    secs = 0;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, secs, std::chars_format::fixed, 3);
  if (ec != std::errc()) {
    return "0.000";
  }
  return std::string(buf, end);
}

/// True when xml_safe() would return the bytes unchanged (printable ASCII,
/// \t \n \r): the common case, which then needs no sanitised copy.
bool already_xml_safe(std::string_view s) {
  for (unsigned char b : s) {
    if (b >= 0x80 || (b < 0x20 && b != '\t' && b != '\n' && b != '\r')) {
      return false;
    }
  }
  return true;
}

class XmlWriter {
public:
  explicit XmlWriter(size_t max_bytes) : m_max(max_bytes) {}

  /// ` name="value"` with the value made safe, cut and escaped.
  void attr(std::string_view name, std::string_view value) {
    m_out += ' ';
    m_out += name;
    m_out += "=\"";
    if ((m_max == 0 || value.size() <= m_max) && already_xml_safe(value)) {
      append_attr_escaped(m_out, value);
    } else {
      append_attr_escaped(m_out, xml_safe_truncated(value, m_max));
    }
    m_out += '"';
  }
  /// An identity (test ID, group, file): made safe and escaped but never
  /// cut, or two long IDs sharing a prefix would read back as one test.
  void attr_whole(std::string_view name, std::string_view value) {
    m_out += ' ';
    m_out += name;
    m_out += "=\"";
    if (already_xml_safe(value)) {
      append_attr_escaped(m_out, value);
    } else {
      append_attr_escaped(m_out, xml_safe(value));
    }
    m_out += '"';
  }
  /// Numeric or otherwise trusted attribute values.
  void attr_raw(std::string_view name, std::string_view value) {
    m_out += ' ';
    m_out += name;
    m_out += "=\"";
    m_out += value;
    m_out += '"';
  }
  void open(int indent, std::string_view name) {
    m_out.append(static_cast<size_t>(indent) * 2, ' ');
    m_out += '<';
    m_out += name;
  }
  void close_open() { m_out += ">\n"; }
  void close_empty() { m_out += "/>\n"; }
  void end(int indent, std::string_view name) {
    m_out.append(static_cast<size_t>(indent) * 2, ' ');
    m_out += "</";
    m_out += name;
    m_out += ">\n";
  }
  /// Ends the open tag, writes the text and the closing tag on the same line
  /// (so the text round-trips byte for byte).
  void text_and_end(std::string_view name, std::string_view text) {
    m_out += '>';
    if ((m_max == 0 || text.size() <= m_max) && already_xml_safe(text)) {
      append_text_escaped(m_out, text);
    } else {
      append_text_escaped(m_out, xml_safe_truncated(text, m_max));
    }
    m_out += "</";
    m_out += name;
    m_out += ">\n";
  }
  /// `<name>text</name>` on its own line; omitted when text is empty.
  void text_element(int indent, std::string_view name, std::string_view text) {
    if (text.empty()) {
      return;
    }
    open(indent, name);
    text_and_end(name, text);
  }
  void raw(std::string_view s) { m_out += s; }
  std::string take() { return std::move(m_out); }

  /// Streaming: once set, the buffer goes to `sink` whenever it holds more
  /// than `chunk` bytes (at flush_if_full(), between test cases) and at
  /// flush(), so a 100,000-test report never sits in memory whole.
  void set_sink(std::function<void(std::string_view)> sink, size_t chunk) {
    m_sink = std::move(sink);
    m_chunk = chunk;
    m_out.reserve(chunk + chunk / 4);
  }
  void flush_if_full() {
    if (m_sink && m_out.size() >= m_chunk) {
      flush();
    }
  }
  void flush() {
    if (m_sink) {
      m_sink(m_out);
      m_out.clear();
    }
  }

private:
  size_t m_max;
  std::string m_out;
  std::function<void(std::string_view)> m_sink;
  size_t m_chunk = 0;
};

bool is_failing(AttemptStatus s) {
  return s == AttemptStatus::Failed || s == AttemptStatus::Error;
}

/// The attempt whose output represents the test's final outcome.
const Attempt* final_attempt(const TestResult& r) {
  auto last_where = [&](auto pred) -> const Attempt* {
    for (auto it = r.attempts.rbegin(); it != r.attempts.rend(); ++it) {
      if (pred(it->status)) {
        return &*it;
      }
    }
    return nullptr;
  };
  const Attempt* a = nullptr;
  switch (r.outcome) {
  case Outcome::Passed:
  case Outcome::Flaky: a = last_where([](AttemptStatus s) { return s == AttemptStatus::Passed; }); break;
  case Outcome::Failed: a = last_where(is_failing); break;
  case Outcome::Skipped: a = last_where([](AttemptStatus s) { return s == AttemptStatus::Skipped; }); break;
  case Outcome::NotRun: break;
  }
  if (a == nullptr && !r.attempts.empty()) {
    a = &r.attempts.back();
  }
  return a;
}

std::string failure_message(const Attempt& a) {
  return a.message.empty() ? a.cause : a.message;
}

std::string failure_type(const Attempt& a) {
  if (!a.type.empty()) {
    return a.type;
  }
  return a.status == AttemptStatus::Error ? "error" : "failure";
}

/// Surefire's shape for a retried attempt: message/type attributes and the
/// attempt's trace and output as child elements.
void write_retry(XmlWriter& w, std::string_view kind, const Attempt& a) {
  w.open(3, kind);
  w.attr("message", failure_message(a));
  w.attr("type", failure_type(a));
  w.close_open();
  w.text_element(4, "stackTrace", a.text);
  w.text_element(4, "system-out", a.system_out);
  w.text_element(4, "system-err", a.system_err);
  w.end(3, kind);
}

struct Counts {
  size_t tests = 0;
  size_t failures = 0;
  size_t errors = 0;
  size_t skipped = 0;
  double time = 0;
  void add(const TestResult& r, double t) {
    ++tests;
    failures += r.outcome == Outcome::Failed ? 1 : 0;
    errors += r.outcome == Outcome::NotRun ? 1 : 0;
    skipped += r.outcome == Outcome::Skipped ? 1 : 0;
    time += t;
  }
  void write(XmlWriter& w) const {
    w.attr_raw("tests", std::to_string(tests));
    w.attr_raw("failures", std::to_string(failures));
    w.attr_raw("errors", std::to_string(errors));
    w.attr_raw("skipped", std::to_string(skipped));
  }
};

/// The testcase's time: the duration of the attempt that decided it. A test
/// that never ran gets 0 (its batch's wall time says nothing about the test;
/// the attempts' durations stay in the properties).
double case_time(const TestResult& r) {
  if (r.outcome == Outcome::NotRun) {
    return 0;
  }
  const Attempt* a = final_attempt(r);
  return a != nullptr && std::isfinite(a->duration_secs) && a->duration_secs > 0 ? a->duration_secs : 0;
}

void write_case(XmlWriter& w, const TestResult& r) {
  const Attempt* fin = final_attempt(r);
  w.open(2, "testcase");
  w.attr_whole("name", r.id);
  w.attr_whole("classname", r.group);
  if (!r.file.empty()) {
    w.attr_whole("file", r.file);
  }
  w.attr_raw("time", format_secs(case_time(r)));
  w.close_open();

  // Properties: the outcome, its cause and where every attempt ran.
  w.open(3, "properties");
  w.close_open();
  auto prop = [&](const std::string& name, const std::string& value) {
    w.open(4, "property");
    w.attr("name", name);
    w.attr("value", value);
    w.close_empty();
  };
  prop("offload.outcome", to_string(r.outcome));
  prop("offload.cause", r.cause);
  prop("offload.attempts", std::to_string(r.attempts.size()));
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    const Attempt& a = r.attempts[i];
    std::string p = "offload.attempt." + std::to_string(i + 1) + ".";
    prop(p + "batch", std::to_string(a.batch));
    prop(p + "sandbox", a.sandbox);
    prop(p + "status", to_string(a.status));
    prop(p + "duration", format_secs(a.duration_secs));
    if (a.rerun > 0) {
      prop(p + "in_process_run", std::to_string(a.rerun));
    }
    if (!a.cause.empty()) {
      prop(p + "cause", a.cause);
    }
  }
  w.end(3, "properties");

  std::vector<const Attempt*> failing;
  for (const Attempt& a : r.attempts) {
    if (is_failing(a.status)) {
      failing.push_back(&a);
    }
  }

  switch (r.outcome) {
  case Outcome::Passed: break;
  case Outcome::Flaky:
    for (const Attempt* a : failing) {
      write_retry(w, "flakyFailure", *a);
    }
    break;
  case Outcome::Failed:
    w.open(3, "failure");
    if (!failing.empty()) {
      const Attempt& last = *failing.back();
      w.attr("message", failure_message(last));
      w.attr("type", failure_type(last));
      w.text_and_end("failure", last.text);
      for (size_t i = 0; i + 1 < failing.size(); ++i) {
        write_retry(w, "rerunFailure", *failing[i]);
      }
    } else {
      w.attr("message", r.cause);
      w.attr("type", "offload.Failed");
      w.close_empty();
    }
    break;
  case Outcome::Skipped: {
    w.open(3, "skipped");
    w.attr("message", fin != nullptr ? fin->message : std::string());
    if (fin != nullptr && !fin->text.empty()) {
      w.text_and_end("skipped", fin->text);
    } else {
      w.close_empty();
    }
    break;
  }
  case Outcome::NotRun: {
    std::string cause = r.cause;
    if (cause.rfind("not run: ", 0) == 0) {
      cause = cause.substr(9);
    }
    w.open(3, "error");
    w.attr("message", "not run: " + cause);
    w.attr("type", "offload.NotRun");
    if (fin != nullptr && !fin->text.empty()) {
      w.text_and_end("error", fin->text);
    } else {
      w.close_empty();
    }
    break;
  }
  }

  if (fin != nullptr) {
    w.text_element(3, "system-out", fin->system_out);
    w.text_element(3, "system-err", fin->system_err);
  }
  w.end(2, "testcase");
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_plain_ascii(unsigned char b) {
  return b < 0x80 && (b >= 0x20 || b == '\t' || b == '\n' || b == '\r');
}

/// Append the XML-safe form of the character starting at bytes[i] and return
/// the offset of the next one: control characters become "\\xNN", anything
/// that is not strict UTF-8 (bad or missing continuation bytes, overlongs,
/// surrogates, > U+10FFFF) becomes U+FFFD one byte at a time, and the
/// non-characters U+FFFE/U+FFFF become U+FFFD.
size_t sanitize_one(std::string_view bytes, size_t i, std::string& out) {
  static const char* hex = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  unsigned char b = p[i];
  if (b < 0x80) {
    if (is_plain_ascii(b)) {
      out += static_cast<char>(b);
    } else {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 0xF];
    }
    return i + 1;
  }
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((b & 0xE0) == 0xC0) {
    len = 2;
    cp = b & 0x1F;
    min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    len = 3;
    cp = b & 0x0F;
    min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    len = 4;
    cp = b & 0x07;
    min = 0x10000;
  }
  bool valid = len != 0 && i + len <= n;
  for (size_t k = 1; valid && k < len; ++k) {
    if ((p[i + k] & 0xC0) != 0x80) {
      valid = false;
    } else {
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
  }
  valid = valid && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
  if (!valid) {
    append_utf8(out, 0xFFFD);
    return i + 1;
  }
  if (cp == 0xFFFE || cp == 0xFFFF) {
    append_utf8(out, 0xFFFD);
  } else {
    out.append(bytes.substr(i, len));
  }
  return i + len;
}

} // namespace

JunitParse parse_junit(std::string_view xml) {
  JunitParse result;
  pugi::xml_document doc;
  pugi::xml_parse_result pr = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default);
  if (!pr) {
    result.error = "line " + std::to_string(line_of_offset(xml, pr.offset)) + ": " + pr.description();
    return result;
  }
  pugi::xml_node root = doc.document_element();
  std::string_view root_name = root.name();
  if (root_name != "testsuites" && root_name != "testsuite") {
    result.error = "root element is <" + std::string(root_name) + ">, expected <testsuites> or <testsuite>";
    return result;
  }
  // <testsuites> and a bare <testsuite> are walked alike: cases may sit at any suite depth.
  collect_cases(root, {}, result.cases);
  return result;
}

JunitParse parse_junit_file(const std::string& path) {
  JunitParse result;
  std::string err;
  std::optional<std::string> data = read_file(path, &err);
  if (!data) {
    result.error = err;
    return result;
  }
  if (trim(*data).empty()) {
    result.error = path + ": empty file";
    return result;
  }
  result = parse_junit(*data);
  if (!result.ok()) {
    result.error = path + ": " + result.error;
  }
  return result;
}

namespace {
/// Decode the five XML entities and numeric character references.
std::string xml_unescape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '&') {
      out += v[i];
      continue;
    }
    auto semi = v.find(';', i);
    if (semi == std::string_view::npos) {
      out += v[i];
      continue;
    }
    auto ent = v.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      append_utf8(out, cp > 0x10FFFF ? 0xFFFDu : static_cast<uint32_t>(cp));
    } else {
      out.append(v.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

/// Value of attribute `name` inside a start tag's text, or nullopt.
std::optional<std::string_view> tag_attribute(std::string_view tag, std::string_view name) {
  size_t pos = 0;
  while ((pos = tag.find(name, pos)) != std::string_view::npos) {
    bool boundary = pos > 0 && (tag[pos - 1] == ' ' || tag[pos - 1] == '\t' || tag[pos - 1] == '\n' || tag[pos - 1] == '\r');
    size_t eq = pos + name.size();
    while (eq < tag.size() && (tag[eq] == ' ' || tag[eq] == '\t')) ++eq;
    if (boundary && eq < tag.size() && tag[eq] == '=') {
      size_t q = eq + 1;
      while (q < tag.size() && (tag[q] == ' ' || tag[q] == '\t')) ++q;
      if (q < tag.size() && (tag[q] == '"' || tag[q] == '\'')) {
        auto end = tag.find(tag[q], q + 1);
        if (end == std::string_view::npos) return std::nullopt;
        return tag.substr(q + 1, end - q - 1);
      }
    }
    pos += name.size();
  }
  return std::nullopt;
}
} // namespace

std::vector<std::pair<std::string, double>> scan_junit_times(const std::string& path) {
  std::vector<std::pair<std::string, double>> out;
  auto text = read_file(path);
  if (!text) return out;
  std::string_view s(*text);
  size_t pos = 0;
  while ((pos = s.find("<testcase", pos)) != std::string_view::npos) {
    size_t after = pos + 9;
    if (after >= s.size() || !(s[after] == ' ' || s[after] == '\t' || s[after] == '\n' || s[after] == '\r')) {
      pos = after;
      continue;
    }
    // The tag ends at the first '>' outside a quoted attribute value.
    size_t i = after;
    char quote = 0;
    for (; i < s.size(); ++i) {
      if (quote) {
        if (s[i] == quote) quote = 0;
      } else if (s[i] == '"' || s[i] == '\'') {
        quote = s[i];
      } else if (s[i] == '>') {
        break;
      }
    }
    if (i >= s.size()) break;
    auto tag = s.substr(after - 1, i - after + 1);
    auto name = tag_attribute(tag, "name");
    if (name) {
      double t = 0;
      if (auto time = tag_attribute(tag, "time")) {
        char* end = nullptr;
        std::string tv(*time);
        t = std::strtod(tv.c_str(), &end);
        if (end == tv.c_str() || !(t >= 0) || t > 1e9) t = 0;
      }
      out.emplace_back(xml_unescape(*name), t);
    }
    pos = i + 1;
  }
  return out;
}

std::string format_test_id(std::string_view format, const JunitCase& c) {
  std::string out;
  out.reserve(format.size() + c.name.size() + c.classname.size());
  size_t i = 0;
  while (i < format.size()) {
    std::string_view rest = format.substr(i);
    if (rest.starts_with("{name}")) {
      out += c.name;
      i += 6;
    } else if (rest.starts_with("{classname}")) {
      out += c.classname;
      i += 11;
    } else if (rest.starts_with("{file}")) {
      out += c.file;
      i += 6;
    } else {
      out += format[i];
      ++i;
    }
  }
  return out;
}

namespace {

void render_into(XmlWriter& w, const std::vector<TestResult>& results, const JunitWriteOptions& opts) {
  // Groups in first-seen order, each with its results in the given order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const TestResult*>> by_group;
  Counts total;
  for (const TestResult& r : results) {
    auto [it, inserted] = by_group.try_emplace(r.group);
    if (inserted) {
      order.push_back(r.group);
    }
    it->second.push_back(&r);
    total.add(r, case_time(r));
  }

  w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  w.open(0, "testsuites");
  w.attr("name", opts.suite_name);
  total.write(w);
  w.attr_raw("time", format_secs(opts.total_secs > 0 ? opts.total_secs : total.time));
  w.close_open();
  for (const std::string& group : order) {
    const auto& members = by_group[group];
    Counts c;
    for (const TestResult* r : members) {
      c.add(*r, case_time(*r));
    }
    w.open(1, "testsuite");
    w.attr_whole("name", group);
    c.write(w);
    w.attr_raw("time", format_secs(c.time));
    w.close_open();
    for (const TestResult* r : members) {
      write_case(w, *r);
      w.flush_if_full();
    }
    w.end(1, "testsuite");
  }
  w.end(0, "testsuites");
}

} // namespace

std::string render_junit(const std::vector<TestResult>& results, const JunitWriteOptions& opts) {
  XmlWriter w(opts.max_output_bytes);
  render_into(w, results, opts);
  return w.take();
}

std::string write_junit(const std::string& path, const std::vector<TestResult>& results,
                        const JunitWriteOptions& opts) {
  // Streamed to the file in 1 MiB chunks: the whole document in memory cost
  // ~2.5x its size at the last string growth (about 120 MB for 100,000 tests).
  return write_file_atomic_streamed(path, [&](const ByteSink& write) {
    XmlWriter w(opts.max_output_bytes);
    w.set_sink(write, size_t(1) << 20);
    render_into(w, results, opts);
    w.flush();
  });
}

std::string xml_safe(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    // Fast path: copy a run of printable ASCII (and \t \n \r) in one go.
    size_t run = i;
    while (run < n && is_plain_ascii(p[run])) {
      ++run;
    }
    if (run > i) {
      out.append(bytes.substr(i, run - i));
      i = run;
      continue;
    }
    i = sanitize_one(bytes, i, out);
  }
  return out;
}

std::string xml_safe_truncated(std::string_view bytes, size_t max_bytes) {
  if (max_bytes == 0) {
    return xml_safe(bytes);
  }
  if (bytes.size() <= max_bytes) {
    std::string safe = xml_safe(bytes);
    if (safe.size() <= max_bytes) {
      return safe;
    }
  }
  // Too long. Only the two ends are sanitised, so a 100 MB log costs O(max_bytes).
  const size_t head_budget = max_bytes / 2;
  const size_t tail_budget = max_bytes - head_budget;

  std::string head;
  std::string piece;
  size_t head_end = 0; // raw offset just past the kept head
  while (head_end < bytes.size()) {
    piece.clear();
    size_t next = sanitize_one(bytes, head_end, piece);
    if (head.size() + piece.size() > head_budget) {
      break;
    }
    head += piece;
    head_end = next;
  }

  // Sanitise a window a little longer than the budget (so that a character
  // cut by the window's start can never be kept), then keep whole characters
  // from the end while they fit.
  size_t window = bytes.size() > tail_budget + 3 ? bytes.size() - tail_budget - 3 : 0;
  window = std::max(window, head_end);
  std::vector<std::pair<size_t, size_t>> pieces; // raw offset, safe size of each character
  for (size_t i = window; i < bytes.size();) {
    piece.clear();
    size_t next = sanitize_one(bytes, i, piece);
    pieces.emplace_back(i, piece.size());
    i = next;
  }
  size_t tail_start = bytes.size();
  size_t tail_size = 0;
  for (size_t k = pieces.size(); k > 0 && tail_size + pieces[k - 1].second <= tail_budget; --k) {
    tail_size += pieces[k - 1].second;
    tail_start = pieces[k - 1].first;
  }

  std::string out = std::move(head);
  out += "\n[... " + std::to_string(tail_start - head_end) + " bytes truncated by offload ...]\n";
  out += xml_safe(bytes.substr(tail_start));
  return out;
}

} // namespace offload
