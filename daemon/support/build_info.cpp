#include "daemon/support/build_info.hpp"

namespace e3x {

const char* e3xd_version() {
  return E3XD_VERSION;
}

}  // namespace e3x
