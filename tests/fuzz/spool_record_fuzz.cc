// libFuzzer target: the audit spool record encoder (EncodeSpoolRecord).
// The input is the record's fields, one per line, and the first line also
// seeds the sequence number and the time. Checks, for every input:
// - The line is one JSON object with no raw newline, so one record stays
//   one line of the spool.
// - Parsing it gives back every field (the last value of a repeated
//   name), with values that are valid UTF-8 unchanged, and no members
//   other than the fields and seq, prev and time.
// - seq, prev and time are the given ones even when a field names them.
// - Two records encoded in a row form a chain that CheckChain accepts.
// Field names are mapped onto A-Z and '_', like the callers' ZSP_* names.
// Values are arbitrary bytes, like user names and argv.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/audit_spool.h"
#include "common/text.h"

namespace {

using nlohmann::json;

// Maps every byte of a raw name onto A-Z and '_'.
std::string FieldName(const std::string& raw) {
  std::string name;
  for (unsigned char c : raw) {
    name += c % 27 == 26 ? '_' : char('A' + c % 27);
  }
  return name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines = zsp::SplitString(text, '\n');
  uint64_t seq = 1;
  uint64_t time_bits = 0;
  for (unsigned char c : lines[0]) {
    seq = seq * 31 + c;
    time_bits = time_bits * 7 + c;
  }
  int64_t time = static_cast<int64_t>(time_bits);

  std::vector<std::string> fields;
  std::map<std::string, std::string> expected;
  for (const auto& line : lines) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      fields.push_back(line);  // skipped by the encoder
      continue;
    }
    std::string name = FieldName(line.substr(0, eq));
    fields.push_back(name + "=" + line.substr(eq + 1));
    expected[name] = line.substr(eq + 1);
  }
  // Fields that try to set the chain members, which the encoder overrides.
  if (lines.size() > 1 && lines[1].size() % 2 == 1) {
    fields.push_back("seq=" + lines[1]);
    fields.push_back("prev=" + lines[1]);
    fields.push_back("time=" + lines[1]);
  }

  std::string prev = zsp::Sha256Hex(text);
  std::string line = zsp::EncodeSpoolRecord(fields, seq, prev, time);
  if (line.find('\n') != std::string::npos) __builtin_trap();

  json record = json::parse(line, nullptr, false);
  if (!record.is_object()) __builtin_trap();
  if (record.value("seq", json()) != json(seq)) __builtin_trap();
  if (record.value("prev", json()) != json(prev)) __builtin_trap();
  if (record.value("time", json()) != json(time)) __builtin_trap();
  expected.erase("seq");
  expected.erase("prev");
  expected.erase("time");
  if (record.size() != expected.size() + 3) __builtin_trap();
  for (const auto& [name, value] : expected) {
    auto member = record.find(name);
    if (member == record.end() || !member->is_string()) __builtin_trap();
    if (zsp::IsValidUtf8(value) && member->get<std::string>() != value) {
      __builtin_trap();
    }
  }

  if (seq < UINT64_MAX) {
    std::string next =
        zsp::EncodeSpoolRecord(fields, seq + 1, zsp::Sha256Hex(line), time);
    zsp::ChainCheck check = zsp::CheckChain({line, next}, seq, prev);
    if (!check.intact || check.records != 2) __builtin_trap();
  }
  return 0;
}
