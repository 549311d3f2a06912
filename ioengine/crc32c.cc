#include "ioengine/crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

#include <algorithm>

namespace overlapd::io {

uint32_t Crc32c(const void* data, size_t len, uint32_t crc) {
  // ISA-L's crc32_iscsi is the raw register update: it neither pre- nor
  // post-inverts, while the standard CRC32C does both, so invert around it
  // to chain like every other CRC API. It takes an int length (and a
  // non-const pointer it does not write through).
  uint32_t state = ~crc;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  while (len > 0) {
    int n = static_cast<int>(std::min<size_t>(len, INT_MAX));
    state = crc32_iscsi(p, n, state);
    p += n;
    len -= static_cast<size_t>(n);
  }
  return ~state;
}

namespace {

// GF(2) matrix helpers of zlib's crc32_combine, for the reflected Castagnoli
// polynomial 0x82F63B78. A 32x32 matrix is 32 column vectors.
uint32_t Gf2MatrixTimes(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  while (vec != 0) {
    if (vec & 1) sum ^= *mat;
    vec >>= 1;
    ++mat;
  }
  return sum;
}

void Gf2MatrixSquare(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = Gf2MatrixTimes(mat, mat[n]);
}

}  // namespace

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  if (len_b == 0) return crc_a;
  // The operator is linear: zero stays zero (the first chunk of a read
  // combines onto the CRC of nothing).
  if (crc_a == 0) return crc_b;
  uint32_t even[32];  // even-power-of-two zeros operator
  uint32_t odd[32];   // odd-power-of-two zeros operator

  // The operator for one zero bit.
  odd[0] = 0x82F63B78u;
  uint32_t row = 1;
  for (int n = 1; n < 32; ++n) {
    odd[n] = row;
    row <<= 1;
  }
  Gf2MatrixSquare(even, odd);  // two zero bits
  Gf2MatrixSquare(odd, even);  // four zero bits

  // Apply len_b zero bytes to crc_a: square the operator for each bit of
  // len_b, first 1 byte (8 bits) then 2, 4, ... bytes.
  do {
    Gf2MatrixSquare(even, odd);
    if (len_b & 1) crc_a = Gf2MatrixTimes(even, crc_a);
    len_b >>= 1;
    if (len_b == 0) break;
    Gf2MatrixSquare(odd, even);
    if (len_b & 1) crc_a = Gf2MatrixTimes(odd, crc_a);
    len_b >>= 1;
  } while (len_b != 0);
  return crc_a ^ crc_b;
}

Crc32cCombiner::Crc32cCombiner(uint64_t len_b) : len_(len_b) {
  // The operator is linear in crc_a: its columns are the images of the
  // basis vectors, each shifted past len_b zero bytes by the general path.
  for (int i = 0; i < 32; ++i) shift_[i] = Crc32cCombine(1u << i, 0, len_b);
}

uint32_t Crc32cCombiner::Combine(uint32_t crc_a, uint32_t crc_b) const {
  return Gf2MatrixTimes(shift_, crc_a) ^ crc_b;
}

}  // namespace overlapd::io
