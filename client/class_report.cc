#include "client/class_report.h"

#include <cmath>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/artifacts.h"
#include "client/format.h"

namespace ablate::client {

namespace {

std::string Value(double value, bool percent) {
  if (percent) return absl::StrCat(std::lround(value * 1000) / 10.0);
  return FormatLoss(value);
}

std::string RunCell(const v1::ClassRun& run) {
  std::string cell = absl::StrCat(run.init(), ":");
  if (run.has_first_nonfinite_step()) {
    // What the loss became ("NaN@2", "+inf@2"), as the run's data says.
    const float loss = run.first_nonfinite_loss();
    const char* what = !run.has_first_nonfinite_loss() || std::isfinite(loss) ? "non-finite"
                       : std::isnan(loss)                                      ? "NaN"
                       : loss > 0                                              ? "+inf"
                                                                               : "-inf";
    absl::StrAppend(&cell, what, "@", run.first_nonfinite_step());
  } else if (run.has_final_loss()) {
    absl::StrAppend(&cell, FormatLoss(run.final_loss()));
    if (run.has_val_accuracy()) {
      absl::StrAppend(&cell, "/", std::lround(run.val_accuracy() * 100), "%");
    }
  } else {
    absl::StrAppend(&cell, RunStateName(run.state()));
  }
  return cell;
}

std::vector<std::vector<std::string>> GroupRows(const v1::ClassView& view) {
  std::vector<std::vector<std::string>> rows = {{"GROUP", "RUNS", "DIVERGED", "FINAL LOSS",
                                                 "VAL LOSS", "VAL ACC", "FIRST NON-FINITE STEP"}};
  for (const v1::RunGroup& g : view.groups()) {
    rows.push_back({g.label(), absl::StrCat(g.runs_size()), absl::StrCat(g.diverged()),
                    FormatDistribution(g.final_loss()), FormatDistribution(g.val_loss()),
                    FormatDistribution(g.val_accuracy(), /*percent=*/true),
                    FormatDistribution(g.first_nonfinite_step())});
  }
  return rows;
}

std::string Header(const v1::ClassView& view) {
  return absl::StrCat(view.class_name().empty() ? "every job" : "class " + view.class_name(),
                      ": ", view.jobs(), view.jobs() == 1 ? " job, " : " jobs, ", view.runs(),
                      " ended runs", view.truncated() ? " (the newest jobs only)" : "");
}

std::string MarkdownCell(const std::string& text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}});
}

}  // namespace

std::string FormatDistribution(const v1::Distribution& d, bool percent) {
  if (d.count() == 0) return "-";
  const char* unit = percent ? " %" : "";
  if (d.count() == 1) return absl::StrCat(Value(d.median(), percent), unit);
  return absl::StrCat(Value(d.median(), percent), " [", Value(d.q10(), percent), "–",
                      Value(d.q90(), percent), "]", unit);
}

std::string FormatClassView(const v1::ClassView& view) {
  std::string out = absl::StrCat(Header(view), "\n");
  if (view.groups_size() == 0) {
    absl::StrAppend(&out, "no ended runs yet\n");
  } else {
    absl::StrAppend(&out, "each outcome: median [10–90 %] over the group's runs\n\n",
                    FormatTable(GroupRows(view), {1, 2}));
  }
  if (view.students_size() > 0) {
    std::vector<std::vector<std::string>> rows = {{"STUDENT", "JOB", "NAME", "JOBS", "RUNS"}};
    std::vector<std::string> flags;
    absl::StrAppend(&out, "\n");
    std::string table_and_flags;
    for (const v1::StudentRow& s : view.students()) {
      std::vector<std::string> cells;
      for (const v1::ClassRun& run : s.runs()) cells.push_back(RunCell(run));
      rows.push_back({s.owner(), absl::StrCat(s.job_id()), Truncate(s.job_name(), 24),
                      absl::StrCat(s.jobs()), absl::StrJoin(cells, " ")});
      for (const std::string& flag : s.flags()) flags.push_back(absl::StrCat(s.owner(), ": ", flag));
    }
    absl::StrAppend(&out, FormatTable(rows, {1, 3}));
    if (!flags.empty()) {
      absl::StrAppend(&out, "\nflags (runs off the class's envelope):\n");
      for (const std::string& flag : flags) absl::StrAppend(&out, "  ! ", flag, "\n");
    }
  }
  return out;
}

std::string ClassReportMarkdown(const v1::ClassView& view, const std::string& figure) {
  std::string md = absl::StrCat("# Class report — ", Header(view), "\n\n");
  if (!figure.empty()) {
    absl::StrAppend(&md, "![median training loss per group](", figure, ")\n\n");
  }
  absl::StrAppend(&md,
                  "Runs are grouped by init and by every setting that differs within the class; "
                  "seeds are draws, not groups. Each outcome is the median with the 10–90 % "
                  "range over the group's runs that have it.\n\n");
  absl::StrAppend(&md, "## Groups\n\n");
  const auto rows = GroupRows(view);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<std::string> cells;
    for (const std::string& cell : rows[r]) cells.push_back(MarkdownCell(cell));
    absl::StrAppend(&md, "| ", absl::StrJoin(cells, " | "), " |\n");
    if (r == 0) {
      absl::StrAppend(
          &md, "|", absl::StrJoin(std::vector<std::string>(rows[0].size(), "---"), "|"), "|\n");
    }
  }
  if (view.students_size() > 0) {
    absl::StrAppend(&md, "\n## Students\n\n| student | job | runs | flags |\n|---|---|---|---|\n");
    for (const v1::StudentRow& s : view.students()) {
      std::vector<std::string> cells;
      for (const v1::ClassRun& run : s.runs()) cells.push_back(RunCell(run));
      absl::StrAppend(&md, "| ", MarkdownCell(s.owner()), " | ", s.job_id(), " ",
                      MarkdownCell(s.job_name()), " | ", absl::StrJoin(cells, " "), " | ",
                      MarkdownCell(absl::StrJoin(s.flags(), "; ")), " |\n");
    }
  }
  return md;
}

absl::StatusOr<std::vector<std::filesystem::path>> WriteClassReport(
    const v1::ClassView& view, const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir.string(), ": ", error.message()));
  }
  std::vector<std::filesystem::path> written;
  auto write = [&](const std::string& name, const std::string& data) -> absl::Status {
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(dir / name);
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->Write(data); !s.ok()) return s;
    if (absl::Status s = (*file)->Commit(); !s.ok()) return s;
    written.push_back(dir / name);
    return absl::OkStatus();
  };
  const std::string figure = view.figure_png().empty() ? "" : "class.png";
  if (!figure.empty()) {
    if (absl::Status s = write(figure, view.figure_png()); !s.ok()) return s;
  }
  v1::ClassView without_figure = view;
  without_figure.clear_figure_png();
  if (absl::Status s = write("class.json", ToJson(without_figure)); !s.ok()) return s;
  if (absl::Status s = write("class.md", ClassReportMarkdown(view, figure)); !s.ok()) return s;
  return written;
}

}  // namespace ablate::client
