/// Reads the runs nextest records inside a retried <testcase> with pugixml.
/// Kept apart from nextest_logic.cpp so that code (and its fuzz targets) needs
/// no XML library; the plugin and its unit tests compile both.
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

#include <pugixml.hpp>

#include "nextest_logic.hpp"

namespace offload::nextest {

namespace {

/// Character data (PCDATA and CDATA) directly inside an element.
std::string own_text(const pugi::xml_node& node) {
  std::string out;
  for (pugi::xml_node child : node.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) out += child.value();
  }
  return out;
}

std::string child_texts(const pugi::xml_node& node, const char* name) {
  std::string out;
  for (pugi::xml_node child : node.children(name)) out += own_text(child);
  return out;
}

/// nextest's writer indents the child elements that follow a run's
/// description, so the description's text node ends with that indentation.
std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

/// Seconds as JUnit writes them; anything unparsable, negative or non-finite is 0.
double parse_secs(const char* s) {
  std::string_view v(s);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d) || d < 0) return 0;
  return d;
}

void collect_recorded(const pugi::xml_node& node, std::vector<CaseRuns>& out) {
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view n = child.name();
    if (n == "testsuite" || n == "testsuites") {
      collect_recorded(child, out);
      continue;
    }
    if (n != "testcase") continue;
    CaseRuns c;
    c.classname = child.attribute("classname").value();
    c.name = child.attribute("name").value();
    for (pugi::xml_node e : child.children()) {
      if (e.type() != pugi::node_element) continue;
      std::string_view k = e.name();
      bool flaky = k == "flakyFailure" || k == "flakyError";
      if (!flaky && k != "rerunFailure" && k != "rerunError") continue;
      RecordedRun r;
      r.flaky = flaky;
      r.status = k == "flakyError" || k == "rerunError" ? OFFLOAD_TEST_ERROR : OFFLOAD_TEST_FAILED;
      r.time_secs = parse_secs(e.attribute("time").value());
      r.message = e.attribute("message").value();
      r.type = e.attribute("type").value();
      r.text = rtrim(own_text(e));
      if (r.text.empty()) r.text = child_texts(e, "stackTrace");
      r.system_out = child_texts(e, "system-out");
      r.system_err = child_texts(e, "system-err");
      c.runs.push_back(std::move(r));
    }
    out.push_back(std::move(c));
  }
}

} // namespace

std::vector<CaseRuns> parse_recorded_runs(std::string_view xml) {
  pugi::xml_document doc;
  auto pr = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default);
  if (!pr) throw std::invalid_argument(std::string("JUnit report is not valid XML: ") + pr.description());
  std::vector<CaseRuns> out;
  collect_recorded(doc, out);
  return out;
}

} // namespace offload::nextest
