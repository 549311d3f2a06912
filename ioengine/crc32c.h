// CRC32C (Castagnoli), as carried in every overlapd event.
#ifndef OVERLAPD_IOENGINE_CRC32C_H_
#define OVERLAPD_IOENGINE_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace overlapd::io {

// Returns the CRC32C of `len` bytes at `data`, continuing from `crc`, the
// CRC32C of the bytes before them (0 for none). Uses ISA-L's SSE4.2/PCLMUL
// kernel.
//
//   Crc32c("123456789") == 0xE3069283
//   Crc32c("6789", Crc32c("12345")) == Crc32c("123456789")
uint32_t Crc32c(const void* data, size_t len, uint32_t crc = 0);
inline uint32_t Crc32c(std::string_view s, uint32_t crc = 0) {
  return Crc32c(s.data(), s.size(), crc);
}

// Returns the CRC32C of A||B given crc_a = CRC32C(A), crc_b = CRC32C(B) and
// len_b = |B|, without the bytes. Chunks of one read complete out of order;
// this folds their CRCs into the CRC of the whole range. O(log len_b).
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// Crc32cCombine for one fixed len_b, precomputed: each Combine is then 32
// steps instead of O(log len_b) 32x32 matrix squarings. The engine keeps one
// for its chunk size, since nearly every chunk of a large read has it.
//
//   Crc32cCombiner by_chunk(1 << 20);
//   crc = by_chunk.Combine(crc, chunk_crc);  // == Crc32cCombine(crc, chunk_crc, 1 << 20)
class Crc32cCombiner {
 public:
  explicit Crc32cCombiner(uint64_t len_b);
  uint64_t len() const { return len_; }
  uint32_t Combine(uint32_t crc_a, uint32_t crc_b) const;

 private:
  uint64_t len_;
  uint32_t shift_[32];  // column i: bit i of crc_a moved past len_b zeros
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_CRC32C_H_
