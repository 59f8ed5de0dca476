// JSON text as the control socket and e3xctl write it: Boost.JSON's serializer writes doubles
// in exponent form (a 0.098 ms round trip as 9.8E-2), which people and some tools read badly.
// Here numbers are plain decimal (0.098, 12.0, 0.00001) from 1e-6 to 1e21, as JavaScript
// writes them, with an exponent only beyond (1e+21), and read back exactly; the rest (strings
// and their escapes, structure) is Boost's.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace e3x::control {

// The document on one line. A double keeps a decimal point ("12.0") so it reads back as a
// double; NaN and infinities, which JSON cannot hold, are written as null.
std::string to_json_text(const boost::json::value& value);

}  // namespace e3x::control
