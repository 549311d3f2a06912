#include "service/wire_names.h"

#include <cstdint>
#include <cstring>

namespace overlapd {
namespace {

constexpr uint32_t kEscapeBase = 0xF700;  // U+F780..U+F7FF carry bytes 0x80..0xFF

// Length of the valid UTF-8 sequence at `s[i]` and its code point, or 0.
size_t SequenceAt(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t c = b(0);
  size_t len;
  uint32_t min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b(k) & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

void AppendEscape(uint8_t byte, std::string* out) {
  const uint32_t cp = kEscapeBase + byte;  // three bytes: EF 9E/9F xx
  out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
  out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
  out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
}

bool IsEscape(uint32_t cp) { return cp >= kEscapeBase + 0x80 && cp <= kEscapeBase + 0xFF; }

}  // namespace

bool IsValidUtf8(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t n = SequenceAt(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ToWireName(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  uint32_t cp;
  for (size_t i = 0; i < raw.size();) {
    size_t n = SequenceAt(raw, i, &cp);
    if (n != 0 && !IsEscape(cp)) {
      out.append(raw.substr(i, n));
      i += n;
    } else if (n != 0) {  // a real U+F7xx: each of its bytes escaped
      for (size_t k = 0; k < n; ++k) AppendEscape(static_cast<uint8_t>(raw[i + k]), &out);
      i += n;
    } else {
      AppendEscape(static_cast<uint8_t>(raw[i]), &out);
      ++i;
    }
  }
  return out;
}

std::string FromWireName(std::string_view wire) {
  // Fast path: an escape starts with 0xEF; most paths have none.
  if (memchr(wire.data(), 0xEF, wire.size()) == nullptr) return std::string(wire);
  std::string out;
  out.reserve(wire.size());
  uint32_t cp;
  for (size_t i = 0; i < wire.size();) {
    size_t n = SequenceAt(wire, i, &cp);
    if (n == 3 && IsEscape(cp)) {
      out.push_back(static_cast<char>(cp - kEscapeBase));
      i += 3;
    } else {
      size_t step = n == 0 ? 1 : n;  // invalid input passes through as is
      out.append(wire.substr(i, step));
      i += step;
    }
  }
  return out;
}

}  // namespace overlapd
