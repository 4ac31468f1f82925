// Aligned text tables and the value formats the CLI shows people.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aureo::cli {

// Columns padded to their widest cell (counted in code points, so UTF-8 city
// names line up), two spaces apart, headers first. The last column is not
// padded, so no line ends in spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Missing cells render empty; extra cells are an error of the caller and
  // are dropped.
  void addRow(std::vector<std::string> cells);
  [[nodiscard]] size_t rows() const { return rows_.size(); }
  [[nodiscard]] std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text: one column per code point.
size_t displayWidth(const std::string& text);

// 0 B, 512 B, 1.5 KiB, 20.0 MiB, ... (binary units, one decimal).
std::string formatBytes(uint64_t bytes);

// "key: value" lines with the keys padded to one width, for `show` commands.
std::string renderFields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace aureo::cli
