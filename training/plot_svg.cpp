#include "engine/atomic_file.h"
#include "training/plot_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace iqa::training {
namespace {

constexpr double kW = 720, kH = 400, kLeft = 70, kRight = 70, kTop = 40, kBottom = 50;
const char* const kColors[] = {"#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

}  // namespace

std::string training_plot_svg(const PlotSeries& loss, const std::vector<PlotSeries>& srcc, const std::string& title) {
  double x_max = 1, l_min = 0, l_max = 1;
  bool have_loss = false;
  for (const auto& [x, y] : loss.points) {
    if (!std::isfinite(y)) continue;
    l_min = have_loss ? std::min(l_min, y) : y;
    l_max = have_loss ? std::max(l_max, y) : y;
    have_loss = true;
    x_max = std::max(x_max, x);
  }
  for (const auto& s : srcc)
    for (const auto& p : s.points) x_max = std::max(x_max, p.first);
  if (l_max - l_min < 1e-12) l_max = l_min + 1;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto px = [&](double x) { return kLeft + pw * x / x_max; };
  auto py_loss = [&](double y) { return kTop + ph * (1 - (y - l_min) / (l_max - l_min)); };
  auto py_srcc = [&](double y) { return kTop + ph * (1 - std::clamp(y, 0.0, 1.0)); };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << kW / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(title)
    << "</text>\n";
  o << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int i = 0; i <= 4; ++i) {  // grid and both axes' labels
    const double f = i / 4.0, y = kTop + ph * (1 - f);
    o << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" stroke=\"#eee\"/>\n";
    o << "<text x=\"" << kLeft - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\" fill=\"#444\">"
      << fmt(l_min + f * (l_max - l_min)) << "</text>\n";
    o << "<text x=\"" << kLeft + pw + 6 << "\" y=\"" << y + 4 << "\">" << fmt(f) << "</text>\n";
    const double xv = x_max * f;
    o << "<text x=\"" << px(xv) << "\" y=\"" << kTop + ph + 18 << "\" text-anchor=\"middle\">" << fmt(xv)
      << "</text>\n";
  }
  o << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kH - 10 << "\" text-anchor=\"middle\">epoch</text>\n";
  o << "<text x=\"16\" y=\"" << kTop + ph / 2 << "\" transform=\"rotate(-90 16 " << kTop + ph / 2
    << ")\" text-anchor=\"middle\">" << xml_escape(loss.name.empty() ? "loss" : loss.name) << "</text>\n";
  o << "<text x=\"" << kW - 14 << "\" y=\"" << kTop + ph / 2 << "\" transform=\"rotate(90 " << kW - 14 << " "
    << kTop + ph / 2 << ")\" text-anchor=\"middle\">SRCC</text>\n";

  auto polyline = [&](const std::vector<std::pair<double, double>>& pts, auto&& map_y, const char* color,
                      const char* dash) {
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" stroke-dasharray=\"" << dash
      << "\" points=\"";
    for (const auto& [x, y] : pts)
      if (std::isfinite(y)) o << px(x) << "," << map_y(y) << " ";
    o << "\"/>\n";
    for (const auto& [x, y] : pts)
      if (std::isfinite(y)) o << "<circle cx=\"" << px(x) << "\" cy=\"" << map_y(y) << "\" r=\"3\" fill=\"" << color << "\"/>\n";
  };
  if (have_loss) polyline(loss.points, py_loss, "#333", "6 3");
  double legend_y = kTop + 14;
  auto legend = [&](const std::string& name, const char* color) {
    o << "<rect x=\"" << kLeft + 10 << "\" y=\"" << legend_y - 9 << "\" width=\"12\" height=\"3\" fill=\"" << color
      << "\"/><text x=\"" << kLeft + 28 << "\" y=\"" << legend_y - 4 << "\">" << xml_escape(name) << "</text>\n";
    legend_y += 16;
  };
  if (have_loss) legend(loss.name.empty() ? "train loss" : loss.name, "#333");
  for (size_t i = 0; i < srcc.size(); ++i) {
    const char* color = kColors[i % (sizeof kColors / sizeof kColors[0])];
    polyline(srcc[i].points, py_srcc, color, "none");
    legend("SRCC " + srcc[i].name, color);
  }
  o << "</svg>\n";
  return o.str();
}

void write_training_plot(const std::string& path, const PlotSeries& loss, const std::vector<PlotSeries>& srcc,
                         const std::string& title) {
  write_file_atomically(path, training_plot_svg(loss, srcc, title), "write_training_plot");
}

}  // namespace iqa::training
