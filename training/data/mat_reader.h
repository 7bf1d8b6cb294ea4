// Reading variables of MATLAB .mat files (libmatio: levels 5 and 7.3), as LIVE and LIVE Challenge
// ship their scores: numeric arrays (dmos_new, orgs, AllMOS_release) and cell arrays of file names
// (refnames_all, AllImages_release). Elements come in MATLAB's column-major order, which for the
// 1xN and Nx1 arrays these files hold is their listed order. Errors name the file and the variable,
// and the element for a bad cell.
#pragma once
#include <string>
#include <vector>

namespace iqa {

// Every element of a numeric (or logical) variable as double.
std::vector<double> mat_numbers(const std::string& path, const std::string& variable);
// A cell array whose elements are text (char arrays, possibly each wrapped in a 1x1 cell).
std::vector<std::string> mat_strings(const std::string& path, const std::string& variable);
// The variable names in the file, in stored order.
std::vector<std::string> mat_variables(const std::string& path);

// Whether this build reads .mat files (libmatio was found at configure time); without it the
// functions above throw saying so.
bool mat_supported();

}  // namespace iqa
