#include "cli/table.h"

#include <gtest/gtest.h>

namespace aureo::cli {
namespace {

TEST(Table, PadsEachColumnToItsWidestCellTwoSpacesApart) {
  Table t({"NAME", "COUNTRY", "ID"});
  t.addRow({"de-fra-1", "DE", "1"});
  t.addRow({"us", "US", "22"});
  EXPECT_EQ(t.render(),
            "NAME      COUNTRY  ID\n"
            "de-fra-1  DE       1\n"
            "us        US       22\n");
}

TEST(Table, CountsCodePointsSoUtf8CellsLineUp) {
  Table t({"CITY", "X"});
  t.addRow({"Zürich", "a"});
  t.addRow({"Bern", "b"});
  EXPECT_EQ(t.render(),
            "CITY    X\n"
            "Zürich  a\n"
            "Bern    b\n");
}

TEST(Table, NoLineEndsInSpacesEvenWithAnEmptyLastCell) {
  Table t({"A", "B"});
  t.addRow({"long value", ""});
  t.addRow({"x"});  // missing cells render empty
  const std::string out = t.render();
  EXPECT_EQ(out, "A           B\nlong value\nx\n");
  EXPECT_EQ(t.rows(), 2u);
}

TEST(Table, HeaderOnlyWhenThereAreNoRows) {
  Table t({"EMAIL", "ROLE"});
  EXPECT_EQ(t.render(), "EMAIL  ROLE\n");
}

TEST(FormatBytes, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(formatBytes(0), "0 B");
  EXPECT_EQ(formatBytes(1023), "1023 B");
  EXPECT_EQ(formatBytes(1024), "1.0 KiB");
  EXPECT_EQ(formatBytes(1536), "1.5 KiB");
  EXPECT_EQ(formatBytes(20ull * 1024 * 1024), "20.0 MiB");
  EXPECT_EQ(formatBytes(3ull << 40), "3.0 TiB");
}

TEST(RenderFields, AlignsValuesAfterTheLongestKey) {
  EXPECT_EQ(renderFields({{"Name", "de-fra-1"}, {"Public IP", "203.0.113.10"}}),
            "Name:      de-fra-1\n"
            "Public IP: 203.0.113.10\n");
}

}  // namespace
}  // namespace aureo::cli
