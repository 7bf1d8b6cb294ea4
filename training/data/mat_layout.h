// A structural check of a level-5 MATLAB file before libmatio reads it: every data element's declared
// byte count must fit inside the element (or file) that holds it, compressed elements inflated first
// (at most 256 MiB). libmatio allocates what a size field
// claims before reading, so a 316-byte file claiming a 1.3 GB dimensions array made it allocate 2.7 GB
// (found by tests/fuzz, regressions/fuzz_mat/dims_claim_huge). Level 7.3 files (HDF5) are not checked;
// files without a level-5 / 7.3 header (MATLAB 4) are refused.
#pragma once
#include <string>

namespace iqa {

// Throws iqa::Error naming the file and the byte offset of the first element that does not fit, or
// saying that the file is not a level-5 / 7.3 MATLAB file.
void check_mat5_layout(const std::string& path);

}  // namespace iqa
