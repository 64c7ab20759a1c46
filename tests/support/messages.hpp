#pragma once
// A predicate for BOOST_CHECK_EXCEPTION: the moerb::error's message contains every given part
// (the function, the argument, the values), so a test pins down what the error says.
#include <boost/test/unit_test.hpp>
#include <initializer_list>
#include <string>
#include <vector>

#include "moerb/core/error.hpp"

namespace moerb::test {

inline auto message_has(std::vector<std::string> parts) {
  return [p = std::move(parts)](const moerb::error& e) {
    const std::string what = e.what();
    for (const auto& s : p) {
      if (what.find(s) == std::string::npos) {
        BOOST_TEST_MESSAGE("message '" << what << "' lacks '" << s << "'");
        return false;
      }
    }
    return true;
  };
}
inline auto message_has(std::initializer_list<std::string> parts) {
  return message_has(std::vector<std::string>(parts));
}

}  // namespace moerb::test
