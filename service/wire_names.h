// How file names that are not valid UTF-8 travel in the API.
//
// Linux names are bytes; protobuf `string` fields must be UTF-8 (a message
// carrying anything else fails to parse in every client). overlapd maps
// names both ways with a bijection between byte strings and UTF-8 strings:
//   - valid UTF-8 stays as it is, except the 128 private-use characters
//     U+F780..U+F7FF, which are escaped themselves (so the mapping stays
//     reversible);
//   - every byte that is not part of such valid UTF-8 (and every byte of an
//     escaped character) travels as U+F700 + the byte: 0xE9 as U+F7E9.
// Every name and path the server sends is in this form, and every path a
// client sends is read in it: a name from List, passed back as it came,
// opens the same file. Clients may show U+F7xx as "\xHH".
//
// Example:
//   ToWireName("caf\xE9")        => "caf\uF7E9"   (UTF-8: 63 61 66 EF 9F A9)
//   FromWireName("caf\uF7E9")    => "caf\xE9"
//   ToWireName("café")           => "café"
#ifndef OVERLAPD_SERVICE_WIRE_NAMES_H_
#define OVERLAPD_SERVICE_WIRE_NAMES_H_

#include <string>
#include <string_view>

namespace overlapd {

std::string ToWireName(std::string_view raw);
std::string FromWireName(std::string_view wire);
// Whether `s` is valid UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_WIRE_NAMES_H_
