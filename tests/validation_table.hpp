// The check every table-driven validation test makes: the call raises kestrel::invalid_argument
// whose message begins "kestrel::<function>: argument '<argument>" (the public function the user
// called, then the argument).
#pragma once

#include <catch2/catch.hpp>

#include <kestrel/core/error.hpp>

#include <exception>
#include <functional>
#include <string>

namespace kestrel_test {

inline void check_refusal(const std::string& function, const std::string& argument, const std::function<void()>& call) {
    std::string message;
    bool right_type = false;
    try {
        call();
    } catch (const kestrel::invalid_argument& e) {
        right_type = true;
        message = e.what();
    } catch (const std::exception& e) {
        message = std::string("wrong exception type: ") + e.what();
    }
    INFO("message: " << message);
    CHECK(right_type);
    CHECK(message.find("kestrel::" + function + ": argument '" + argument) != std::string::npos);
}

}  // namespace kestrel_test
