// The version e3xd and e3xctl report (set by CMake from project()).
#pragma once

namespace e3x {

const char* e3xd_version();

}  // namespace e3x
