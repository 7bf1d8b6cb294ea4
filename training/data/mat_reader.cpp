#include "training/data/mat_reader.h"

#include <cstdint>

#include "engine/error.h"
#include "training/data/mat_layout.h"

#ifdef IQA_HAVE_MATIO
#include <matio.h>
#endif

namespace iqa {

#ifndef IQA_HAVE_MATIO

bool mat_supported() { return false; }
namespace {
[[noreturn]] void no_matio(const std::string& path) {
  throw Error(path + ": this build reads no .mat files (libmatio was not found when it was configured: install "
                     "libmatio-dev, rerun cmake), or pass a CSV export of the variables");
}
}  // namespace
std::vector<double> mat_numbers(const std::string& path, const std::string&) { no_matio(path); }
std::vector<std::string> mat_strings(const std::string& path, const std::string&) { no_matio(path); }
std::vector<std::string> mat_variables(const std::string& path) { no_matio(path); }

#else

bool mat_supported() { return true; }

namespace {

// An open file and one variable read from it, both freed on scope exit.
struct MatFile {
  mat_t* mat = nullptr;
  explicit MatFile(const std::string& path) {
    check_mat5_layout(path);  // before libmatio trusts the file's size fields
    mat = Mat_Open(path.c_str(), MAT_ACC_RDONLY);
    IQA_CHECK(mat != nullptr, path, ": not a readable MATLAB .mat file");
  }
  ~MatFile() { Mat_Close(mat); }
  MatFile(const MatFile&) = delete;
  MatFile& operator=(const MatFile&) = delete;
};

struct MatVar {
  matvar_t* v = nullptr;
  MatVar(const MatFile& f, const std::string& path, const std::string& name) : v(Mat_VarRead(f.mat, name.c_str())) {
    if (v) return;
    std::string names;
    for (const auto& n : mat_variables(path)) names += (names.empty() ? "" : ", ") + n;
    throw Error(path + ": no variable '" + name + "' (the file holds: " + (names.empty() ? "nothing" : names) + ")");
  }
  ~MatVar() { Mat_VarFree(v); }
  MatVar(const MatVar&) = delete;
  MatVar& operator=(const MatVar&) = delete;
};

// A corrupt file can give a rank without dimensions (found by tests/fuzz, regressions/fuzz_mat/rank_without_dims).
size_t element_count(const matvar_t* v, const std::string& what) {
  IQA_CHECK(v->rank >= 0 && (v->rank == 0 || v->dims != nullptr), what, " has a rank of ", v->rank,
            " but no dimensions (a corrupt file)");
  size_t n = 1;
  for (int i = 0; i < v->rank; ++i) n *= v->dims[i];
  return n;
}

// A variable's dimensions and its stored data are separate fields of the file: a corrupt one can claim
// more elements than its data holds (found by tests/fuzz, regressions/fuzz_mat/char_data_short).
void require_data(const matvar_t* v, size_t n, size_t element_size, const std::string& what) {
  IQA_CHECK(n == 0 || (v->data != nullptr && element_size > 0 && v->nbytes / element_size >= n), what, ": ",
            n, " elements of ", element_size, " bytes but only ", v->nbytes, " bytes of data (a corrupt file)");
}

template <class T>
void append(std::vector<double>& out, const matvar_t* v, size_t n, const std::string& what) {
  require_data(v, n, sizeof(T), what);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(double(static_cast<const T*>(v->data)[i]));
}

void utf8_append(std::string& s, uint32_t c) {
  if (c < 0x80) {
    s += char(c);
  } else if (c < 0x800) {
    s += char(0xC0 | (c >> 6)), s += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += char(0xE0 | (c >> 12)), s += char(0x80 | ((c >> 6) & 0x3F)), s += char(0x80 | (c & 0x3F));
  } else {
    s += char(0xF0 | (c >> 18)), s += char(0x80 | ((c >> 12) & 0x3F)), s += char(0x80 | ((c >> 6) & 0x3F));
    s += char(0x80 | (c & 0x3F));
  }
}

// A 1xN char array's text; what names the element in errors.
std::string text_of(const matvar_t* v, const std::string& what) {
  if (v && v->class_type == MAT_C_CELL && element_count(v, what) == 1)  // {'name'} inside the cell array
    return text_of(Mat_VarGetCell(const_cast<matvar_t*>(v), 0), what);
  IQA_CHECK(v && v->class_type == MAT_C_CHAR, what, " is not text");
  const size_t n = element_count(v, what);
  IQA_CHECK(v->rank == 2, what, " is a char array of rank ", v->rank, ", expected one row");
  IQA_CHECK(v->dims[0] == 1 || n == 0, what, " is a ", v->dims[0], "-row char array, expected one row");
  IQA_CHECK(v->data_size == 1 || v->data_size == 2 || v->data_size == 4, what, ": unsupported character size ",
            v->data_size);
  require_data(v, n, size_t(v->data_size), what);
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    uint32_t c = 0;
    if (v->data_size == 1) c = static_cast<const uint8_t*>(v->data)[i];
    else if (v->data_size == 2) c = static_cast<const uint16_t*>(v->data)[i];
    else c = static_cast<const uint32_t*>(v->data)[i];
    utf8_append(s, c);
  }
  return s;
}

}  // namespace

std::vector<std::string> mat_variables(const std::string& path) {
  MatFile f(path);
  std::vector<std::string> names;
  while (matvar_t* v = Mat_VarReadNextInfo(f.mat)) {
    if (v->name) names.push_back(v->name);
    Mat_VarFree(v);
  }
  return names;
}

std::vector<double> mat_numbers(const std::string& path, const std::string& variable) {
  MatFile f(path);
  MatVar var(f, path, variable);
  const matvar_t* v = var.v;
  const std::string what = path + ": variable '" + variable + "'";
  IQA_CHECK(!v->isComplex, what, " is complex, expected real numbers");
  const size_t n = element_count(v, what);
  std::vector<double> out;
  IQA_CHECK(n == 0 || v->data != nullptr, what, " has no data");
  switch (v->class_type) {
    case MAT_C_DOUBLE: append<double>(out, v, n, what); break;
    case MAT_C_SINGLE: append<float>(out, v, n, what); break;
    case MAT_C_INT8: append<int8_t>(out, v, n, what); break;
    case MAT_C_UINT8: append<uint8_t>(out, v, n, what); break;  // logical arrays too
    case MAT_C_INT16: append<int16_t>(out, v, n, what); break;
    case MAT_C_UINT16: append<uint16_t>(out, v, n, what); break;
    case MAT_C_INT32: append<int32_t>(out, v, n, what); break;
    case MAT_C_UINT32: append<uint32_t>(out, v, n, what); break;
    case MAT_C_INT64: append<int64_t>(out, v, n, what); break;
    case MAT_C_UINT64: append<uint64_t>(out, v, n, what); break;
    default: fail(cat(what, " is not a numeric array (MATLAB class ", int(v->class_type), ")"));
  }
  return out;
}

std::vector<std::string> mat_strings(const std::string& path, const std::string& variable) {
  MatFile f(path);
  MatVar var(f, path, variable);
  const std::string what = path + ": variable '" + variable + "'";
  IQA_CHECK(var.v->class_type == MAT_C_CELL, what, " is not a cell array of names");
  const size_t n = element_count(var.v, what);
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(text_of(Mat_VarGetCell(var.v, int(i)), what + ": element " + std::to_string(i + 1)));
  return out;
}

#endif  // IQA_HAVE_MATIO

}  // namespace iqa
