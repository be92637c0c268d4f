#include "common/audit_verify.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/audit_spool.h"

namespace zsp {
namespace {

using nlohmann::json;

struct ParsedLine {
  bool valid = false;
  uint64_t seq = 0;
  std::string prev;
  std::string hash;
};

ParsedLine ParseLine(const std::string& line) {
  ParsedLine parsed;
  json record = json::parse(line, nullptr, false);
  if (!record.is_object()) return parsed;
  auto seq = record.find("seq");
  auto prev = record.find("prev");
  if (seq == record.end() || !seq->is_number_unsigned() ||
      prev == record.end() || !prev->is_string()) {
    return parsed;
  }
  parsed.valid = true;
  parsed.seq = seq->get<uint64_t>();
  parsed.prev = prev->get<std::string>();
  parsed.hash = Sha256Hex(line);
  return parsed;
}

std::string Range(uint64_t first, uint64_t last) {
  if (first == last) return "record " + std::to_string(first) + " is";
  return "records " + std::to_string(first) + " to " + std::to_string(last) +
         " are";
}

// Collects findings, one per record: the first reason found is kept.
class Findings {
 public:
  void Add(uint64_t seq, std::string problem) {
    by_seq_.emplace(seq, std::move(problem));
  }
  std::vector<ChainFinding> Sorted() const {
    std::vector<ChainFinding> list;
    for (const auto& [seq, problem] : by_seq_) list.push_back({seq, problem});
    return list;
  }

 private:
  std::map<uint64_t, std::string> by_seq_;
};

}  // namespace

ChainReport VerifyAuditChain(const std::vector<std::string>& lines,
                             const std::vector<ChainAnchor>& anchors) {
  ChainReport report;
  Findings findings;
  std::map<uint64_t, std::string> hash_of;
  std::set<uint64_t> broken_into;  // b: the link from record b-1 is broken
  uint64_t expected = 1;
  std::string prev_hash = kGenesisHash;
  bool prev_known = true;

  for (size_t i = 0; i < lines.size(); ++i) {
    ParsedLine line = ParseLine(lines[i]);
    if (!line.valid) {
      findings.Add(expected, "altered: line " + std::to_string(i + 1) +
                                 " is not a valid audit record");
      ++expected;
      prev_known = false;
      continue;
    }
    ++report.records;
    if (line.seq < expected) {
      findings.Add(line.seq, "out of order or duplicated: line " +
                                 std::to_string(i + 1) + " comes after record " +
                                 std::to_string(expected - 1));
      continue;
    }
    if (line.seq > expected) {
      findings.Add(expected, "missing: " + Range(expected, line.seq - 1) +
                                 " not in the chain");
      prev_known = false;
    }
    if (prev_known && line.prev != prev_hash) broken_into.insert(line.seq);
    hash_of[line.seq] = line.hash;
    prev_hash = line.hash;
    prev_known = true;
    expected = line.seq + 1;
    report.last_seq = line.seq;
  }

  // Anchors vouch for single records and for the length of the chain.
  std::set<uint64_t> confirmed;
  for (const auto& anchor : anchors) {
    if (anchor.seq > report.last_seq) {
      findings.Add(report.last_seq + 1,
                   "missing: " + Range(report.last_seq + 1, anchor.seq) +
                       " gone from the end, but " + anchor.source +
                       " covers record " + std::to_string(anchor.seq));
      continue;
    }
    auto it = hash_of.find(anchor.seq);
    if (it == hash_of.end()) continue;  // reported as missing above
    if (it->second == anchor.hash) {
      confirmed.insert(anchor.seq);
    } else {
      findings.Add(anchor.seq,
                   "altered: its SHA-256 does not match " + anchor.source);
    }
  }

  for (uint64_t b : broken_into) {
    uint64_t a = b - 1;
    bool next_broken = broken_into.count(b + 1) > 0;
    if (b == 1) {
      findings.Add(b, "altered: its prev is not the genesis hash");
    } else if (next_broken || confirmed.count(a) > 0) {
      findings.Add(b, "altered: its prev does not match the SHA-256 of "
                      "record " + std::to_string(a));
    } else {
      findings.Add(a, "altered: its SHA-256 does not match the prev in "
                      "record " + std::to_string(b));
    }
  }
  report.findings = findings.Sorted();
  return report;
}

}  // namespace zsp
