#pragma once
// Helpers shared by the data-reader test suites: a temporary directory that removes itself, fixture
// files written into it, and a check that a moerb::error message names what was wrong.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "moerb/core/error.hpp"
#include "support/messages.hpp"
#include "support/scratch_dir.hpp"

namespace moerb::test {

}  // namespace moerb::test
