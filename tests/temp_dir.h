// MakeTempDir: a fresh directory under the system temp dir for a test that
// needs real files (sockets, certificates, a store on disk). The test removes
// it (std::filesystem::remove_all) when done.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace warbler::testing {

inline std::string MakeTempDir(std::string_view prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr) << "mkdtemp " << tmpl;
  return tmpl;
}

}  // namespace warbler::testing
