// docs/config.md documents exactly the keys the schema knows, with their types, ranges and
// defaults: the documentation cannot drift from the code.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "vrseg/config.h"

namespace vrseg {
namespace {

struct DocRow {
  std::string type, range, default_value;
  int count = 0;
};

std::vector<std::string> Cells(const std::string& line) {
  // Splits "| a | b \| c | d |" on unescaped pipes; unescapes "\|".
  std::vector<std::string> cells;
  std::string cur;
  for (size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cur += '|';
      ++i;
    } else if (line[i] == '|') {
      const size_t b = cur.find_first_not_of(' '), e = cur.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  return cells;
}

std::string StripTicks(const std::string& s) {
  if (s.size() >= 2 && s.front() == '`' && s.back() == '`') return s.substr(1, s.size() - 2);
  return s;
}

TEST(ConfigDocs, ListsExactlyTheSchemaKeys) {
  const std::string path = std::string(VRSEG_TESTDATA_DIR) + "/../docs/config.md";
  std::ifstream f(path);
  ASSERT_TRUE(f.good()) << path;
  std::map<std::string, DocRow> rows;
  std::string line;
  bool in_keys = false;  // the key tables follow the "## Keys" heading
  while (std::getline(f, line)) {
    if (line.rfind("## ", 0) == 0) in_keys = line == "## Keys";
    if (!in_keys || line.rfind("| `", 0) != 0) continue;  // key rows start with `key`
    const auto cells = Cells(line);
    ASSERT_GE(cells.size(), 5u) << line;
    DocRow& r = rows[StripTicks(cells[0])];
    r.type = cells[1];
    r.range = cells[2];
    r.default_value = StripTicks(cells[3]);
    ++r.count;
  }
  std::ostringstream expected;  // printed on failure: the rows the schema wants
  bool ok = true;
  for (const ConfigKey& k : ConfigKeys()) {
    std::string range = k.range;
    for (size_t p = range.find('|'); p != std::string::npos; p = range.find('|', p + 2)) {
      range.replace(p, 1, "\\|");
    }
    expected << "| `" << k.path << "` | " << k.type << " | " << range << " | `" << k.default_value
             << "` | " << k.description << " |\n";
    auto it = rows.find(k.path);
    if (it == rows.end()) {
      ADD_FAILURE() << "docs/config.md does not document " << k.path;
      ok = false;
      continue;
    }
    EXPECT_EQ(it->second.count, 1) << k.path << " is documented more than once";
    EXPECT_EQ(it->second.type, k.type) << k.path;
    EXPECT_EQ(it->second.range, k.range) << k.path;
    EXPECT_EQ(it->second.default_value, k.default_value) << k.path;
    ok = ok && it->second.type == k.type && it->second.range == k.range &&
         it->second.default_value == k.default_value;
    rows.erase(it);
  }
  for (const auto& [key, row] : rows) {
    ADD_FAILURE() << "docs/config.md documents " << key << ", which the schema does not know";
    ok = false;
  }
  if (!ok) std::cerr << "Rows the schema expects:\n" << expected.str();
}

}  // namespace
}  // namespace vrseg
