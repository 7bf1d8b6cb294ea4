// A self-contained SVG of a run's curves: training loss per epoch (left axis) and SRCC per evaluated
// epoch for each test set (right axis, 0..1). Written by sind-train at the end of every epoch.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace iqa::training {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (epoch, value)
};

// The SVG text. loss may be empty; srcc series are drawn against a fixed 0..1 axis.
std::string training_plot_svg(const PlotSeries& loss, const std::vector<PlotSeries>& srcc, const std::string& title);
void write_training_plot(const std::string& path, const PlotSeries& loss, const std::vector<PlotSeries>& srcc,
                         const std::string& title);

}  // namespace iqa::training
