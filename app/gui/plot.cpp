#include "gui/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mq::gui {

namespace {

constexpr ImU32 kFrame = IM_COL32(120, 120, 130, 255);
constexpr ImU32 kGrid = IM_COL32(60, 60, 70, 255);
constexpr ImU32 kLabel = IM_COL32(190, 190, 190, 255);

std::string format(const char* fmt, double v) {
    char buf[48];
    std::snprintf(buf, sizeof buf, fmt, v);
    return buf;
}

void draw_marker(ImDrawList* dl, ImVec2 c, Marker m, float r, ImU32 color) {
    switch (m) {
        case Marker::None:
            break;
        case Marker::Circle:
            dl->AddCircleFilled(c, r, color, 12);
            break;
        case Marker::Square:
            dl->AddRectFilled(ImVec2(c.x - r, c.y - r), ImVec2(c.x + r, c.y + r), color);
            break;
        case Marker::Diamond:
            dl->AddQuadFilled(ImVec2(c.x, c.y - r * 1.3f), ImVec2(c.x + r * 1.3f, c.y),
                              ImVec2(c.x, c.y + r * 1.3f), ImVec2(c.x - r * 1.3f, c.y), color);
            break;
    }
}

void dashed_line(ImDrawList* dl, ImVec2 a, ImVec2 b, ImU32 color, float thickness) {
    float len = std::hypot(b.x - a.x, b.y - a.y);
    for (float t = 0; t < len; t += 9) {
        float t1 = std::min(len, t + 5);
        dl->AddLine(ImVec2(a.x + (b.x - a.x) * t / len, a.y + (b.y - a.y) * t / len),
                    ImVec2(a.x + (b.x - a.x) * t1 / len, a.y + (b.y - a.y) * t1 / len), color,
                    thickness);
    }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target, bool log_scale) {
    std::vector<double> ticks;
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
    if (log_scale && lo > 0) {
        for (int mult_set = 0; mult_set < 3; ++mult_set) {
            static const std::vector<double> sets[3] = {{1, 2, 5}, {1, 3}, {1}};
            ticks.clear();
            for (int k = int(std::floor(std::log10(lo))); k <= int(std::ceil(std::log10(hi))); ++k)
                for (double m : sets[mult_set]) {
                    double v = m * std::pow(10.0, k);
                    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
                }
            if (int(ticks.size()) <= target + 2) break;
        }
        if (ticks.size() >= 2) return ticks;
        ticks.clear();  // under one decade with too few round values: linear ticks instead
    }
    double raw = (hi - lo) / std::max(1, target);
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
        ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    return ticks;
}

namespace {

// A point the plot can place: finite, and positive on a log axis.
bool drawable(const PlotOptions& o, float y) {
    return std::isfinite(y) && (!o.log_y || y > 0);
}

struct Range {
    float x0, x1, y0, y1;
};

// The options' axis ranges, or the data's with a margin where they are not given.
Range fit_ranges(const PlotOptions& o, const std::vector<PlotSeries>& series,
                 const std::vector<PlotHLine>& hlines) {
    Range r{o.x_min, o.x_max, o.y_min, o.y_max};
    const bool fit_x = !(r.x1 > r.x0), fit_y = !(r.y1 > r.y0);
    if (!fit_x && !fit_y) return r;
    float ax = std::numeric_limits<float>::max(), bx = -ax, ay = ax, by = -ax;
    auto take = [&](float x, float y, bool has_x) {
        if (!drawable(o, y)) return;
        if (has_x) ax = std::min(ax, x), bx = std::max(bx, x);
        ay = std::min(ay, y), by = std::max(by, y);
    };
    for (auto& s : series)
        for (auto& p : s.points) take(p.x, p.y, true);
    for (auto& h : hlines) take(0, h.y, false);
    if (ax > bx) ax = 0, bx = 1;
    if (ay > by) ay = o.log_y ? 1.0f : 0.0f, by = o.log_y ? 10.0f : 1.0f;
    if (fit_x) {
        float pad = std::max(0.04f * (bx - ax), 0.25f);
        r.x0 = ax - pad, r.x1 = bx + pad;
    }
    if (fit_y) {
        if (o.log_y) {
            r.y0 = ay / 1.12f, r.y1 = by * 1.12f;
        } else {
            float pad = std::max(0.06f * (by - ay), 1e-3f);
            r.y0 = ay - pad, r.y1 = by + pad;
        }
    }
    return r;
}

// The data area [a, b] on screen and the mapping of data values into it.
struct Frame {
    const PlotOptions& o;
    Range r;
    ImVec2 a, b;
    double ty(double y) const { return o.log_y ? std::log10(std::max(y, 1e-30)) : y; }
    float px(double x) const { return float(a.x + (x - r.x0) / (r.x1 - r.x0) * (b.x - a.x)); }
    float py(double y) const {
        return float(b.y - (ty(y) - ty(r.y0)) / (ty(r.y1) - ty(r.y0)) * (b.y - a.y));
    }
    ImVec2 at(ImVec2 p) const { return ImVec2(px(p.x), py(p.y)); }
};

// Background, grid, tick labels left and below, y label on top, x label at the bottom.
void draw_axes(ImDrawList* dl, const Frame& f, const std::vector<double>& y_ticks, ImVec2 origin,
               float line_h) {
    const PlotOptions& o = f.o;
    dl->AddRectFilled(f.a, f.b, IM_COL32(24, 24, 30, 255));
    for (double v : y_ticks) {
        float y = f.py(v);
        dl->AddLine(ImVec2(f.a.x, y), ImVec2(f.b.x, y), kGrid);
        std::string t = format(o.y_format, v);
        dl->AddText(ImVec2(f.a.x - 4 - ImGui::CalcTextSize(t.c_str()).x, y - line_h / 2), kLabel,
                    t.c_str());
    }
    for (double v : nice_ticks(f.r.x0, f.r.x1, std::max(2, int((f.b.x - f.a.x) / 60)), false)) {
        float x = f.px(v);
        dl->AddLine(ImVec2(x, f.a.y), ImVec2(x, f.b.y), kGrid);
        std::string t = format(o.x_format, v);
        dl->AddText(ImVec2(x - ImGui::CalcTextSize(t.c_str()).x / 2, f.b.y + 3), kLabel, t.c_str());
    }
    dl->AddRect(f.a, f.b, kFrame);
    if (!o.y_label.empty()) dl->AddText(ImVec2(origin.x, origin.y), kLabel, o.y_label.c_str());
    if (!o.x_label.empty()) {
        float w = ImGui::CalcTextSize(o.x_label.c_str()).x;
        dl->AddText(ImVec2((f.a.x + f.b.x - w) / 2, f.b.y + line_h + 6), kLabel, o.x_label.c_str());
    }
}

// Reference lines and series, clipped to the frame.
void draw_data(ImDrawList* dl, const Frame& f, const std::vector<PlotSeries>& series,
               const std::vector<PlotHLine>& hlines) {
    dl->PushClipRect(ImVec2(f.a.x + 1, f.a.y + 1), ImVec2(f.b.x, f.b.y), true);
    for (auto& h : hlines)
        dashed_line(dl, ImVec2(f.a.x, f.py(h.y)), ImVec2(f.b.x, f.py(h.y)), h.color, 1.5f);
    for (auto& s : series) {
        std::vector<ImVec2> pts;
        for (auto& p : s.points)
            if (drawable(f.o, p.y)) pts.push_back(f.at(p));
        if (s.thickness > 0 && pts.size() >= 2)
            dl->AddPolyline(pts.data(), int(pts.size()), s.color, 0, s.thickness);
        for (auto& p : pts) draw_marker(dl, p, s.marker, s.marker_size, s.color);
    }
    dl->PopClipRect();
}

// The legend, inside the frame in the corner that hides the fewest data points (top right
// first: falling curves).
void draw_legend(ImDrawList* dl, const Frame& f, const std::vector<PlotSeries>& series,
                 const std::vector<PlotHLine>& hlines, float line_h) {
    const float sw = 26, pad = 5;
    float legend_w = 0;
    int entries = 0;
    for (auto& s : series)
        if (!s.label.empty() && !s.points.empty())
            legend_w = std::max(legend_w, ImGui::CalcTextSize(s.label.c_str()).x), ++entries;
    for (auto& h : hlines)
        if (!h.label.empty())
            legend_w = std::max(legend_w, ImGui::CalcTextSize(h.label.c_str()).x), ++entries;
    if (entries == 0) return;
    const ImVec2 a = f.a, b = f.b;
    const ImVec2 lsize(legend_w + sw + 3 * pad, entries * line_h + 2 * pad);
    const ImVec2 corners[4] = {ImVec2(b.x - pad - lsize.x, a.y + pad),
                               ImVec2(a.x + pad, b.y - pad - lsize.y), ImVec2(a.x + pad, a.y + pad),
                               ImVec2(b.x - pad - lsize.x, b.y - pad - lsize.y)};
    ImVec2 la = corners[0];
    int least = std::numeric_limits<int>::max();
    for (const ImVec2& c : corners) {
        int hidden = 0;
        for (auto& s : series)
            for (auto& p : s.points) {
                if (!drawable(f.o, p.y)) continue;
                float x = f.px(p.x), y = f.py(p.y);
                hidden += x >= c.x && x <= c.x + lsize.x && y >= c.y && y <= c.y + lsize.y;
            }
        if (hidden < least) least = hidden, la = c;
    }
    ImVec2 lb(la.x + lsize.x, la.y + lsize.y);
    dl->AddRectFilled(la, lb, IM_COL32(16, 16, 20, 220));
    dl->AddRect(la, lb, kFrame);
    float y = la.y + pad;
    for (auto& s : series) {
        if (s.label.empty() || s.points.empty()) continue;
        ImVec2 c(la.x + pad + sw / 2, y + line_h / 2);
        if (s.thickness > 0)
            dl->AddLine(ImVec2(c.x - sw / 2, c.y), ImVec2(c.x + sw / 2, c.y), s.color, s.thickness);
        draw_marker(dl, c, s.marker, s.marker_size, s.color);
        dl->AddText(ImVec2(la.x + 2 * pad + sw, y), kLabel, s.label.c_str());
        y += line_h;
    }
    for (auto& h : hlines) {
        if (h.label.empty()) continue;
        float cy = y + line_h / 2;
        dashed_line(dl, ImVec2(la.x + pad, cy), ImVec2(la.x + pad + sw, cy), h.color, 1.5f);
        dl->AddText(ImVec2(la.x + 2 * pad + sw, y), kLabel, h.label.c_str());
        y += line_h;
    }
}

// The point nearest the mouse (within a few pixels), circled, with its values in a tooltip.
void draw_hovered_point(ImDrawList* dl, const Frame& f, const std::vector<PlotSeries>& series) {
    ImVec2 m = ImGui::GetIO().MousePos;
    const PlotSeries* best_s = nullptr;
    ImVec2 best_p, best_px;
    float best_d = 12 * 12;
    for (auto& s : series)
        for (auto& p : s.points) {
            if (!drawable(f.o, p.y)) continue;
            ImVec2 q = f.at(p);
            float d = (q.x - m.x) * (q.x - m.x) + (q.y - m.y) * (q.y - m.y);
            if (d < best_d) best_d = d, best_s = &s, best_p = p, best_px = q;
        }
    if (!best_s) return;
    dl->AddCircle(best_px, best_s->marker_size + 3, IM_COL32(255, 255, 255, 255), 12, 1.5f);
    ImGui::BeginTooltip();
    ImGui::TextUnformatted(best_s->label.c_str());
    ImGui::Text("%s %s", f.o.x_label.c_str(), format(f.o.x_format, best_p.x).c_str());
    ImGui::Text("%s %s", f.o.y_label.c_str(), format(f.o.y_format, best_p.y).c_str());
    ImGui::EndTooltip();
}

}  // namespace

void draw_plot(const char* id, const PlotOptions& o, const std::vector<PlotSeries>& series,
               const std::vector<PlotHLine>& hlines) {
    ImGui::PushID(id);
    ImVec2 size = o.size;
    if (size.x <= 0) size.x = ImGui::GetContentRegionAvail().x;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##plot", size);
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float line_h = ImGui::GetTextLineHeight();

    const Range r = fit_ranges(o, series, hlines);
    // The frame leaves room for the y tick labels on the left, the y label on top, and the x
    // tick labels and x label below.
    const std::vector<double> y_ticks = nice_ticks(r.y0, r.y1, 6, o.log_y);
    float label_w = 0;
    for (double v : y_ticks)
        label_w = std::max(label_w, ImGui::CalcTextSize(format(o.y_format, v).c_str()).x);
    const Frame f{o, r, ImVec2(origin.x + label_w + 8, origin.y + line_h + 6),
                  ImVec2(origin.x + size.x - 6, origin.y + size.y - 2 * line_h - 8)};
    if (f.b.x - f.a.x >= 20 && f.b.y - f.a.y >= 20) {
        draw_axes(dl, f, y_ticks, origin, line_h);
        draw_data(dl, f, series, hlines);
        draw_legend(dl, f, series, hlines, line_h);
        if (hovered) draw_hovered_point(dl, f, series);
    }
    ImGui::PopID();
}

}  // namespace mq::gui
