// The features of e3xd, one Module each (host/module.hpp).
#pragma once

#include <memory>
#include <vector>

#include "daemon/host/module.hpp"

namespace e3x::daemon {

class Host;

// Every feature, in the order the host hands them events. A new feature is a folder under
// daemon/modules/ and one line in modules.cpp.
std::vector<std::unique_ptr<Module>> make_modules(Host& host);

}  // namespace e3x::daemon
