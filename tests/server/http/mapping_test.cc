// The gateway's translations, without a socket.
#include "server/http/mapping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ablate/v1/ablate.pb.h"
#include "google/protobuf/struct.pb.h"

namespace ablate::http {
namespace {

using Query = std::multimap<std::string, std::string>;

TEST(HttpStatusFor, MapsEveryCodeTheServiceReturns) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOutOfRange), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kCancelled), 499);
}

TEST(ErrorJson, CarriesTheCodeNameAndTheMessageEscaped) {
  EXPECT_EQ(ErrorJson(absl::NotFoundError("job \"7\" not found")),
            R"({"error":{"code":"NOT_FOUND","message":"job \"7\" not found"}})");
}

TEST(MessageToJson, PrintsEveryFieldOnOneLineAndNonFiniteLossesAsStrings) {
  v1::StepLosses steps;
  steps.set_run_id(12);
  steps.add_losses(0.5f);
  steps.add_losses(std::numeric_limits<float>::quiet_NaN());
  steps.add_losses(std::numeric_limits<float>::infinity());
  const std::string json = MessageToJson(steps);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_NE(json.find(R"("runId":"12")"), std::string::npos) << json;   // int64 as a string
  EXPECT_NE(json.find(R"("firstStep":0)"), std::string::npos) << json;  // zero printed
  EXPECT_NE(json.find(R"("losses":[0.5,"NaN","Infinity"])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("seconds":[])"), std::string::npos) << json;
}

TEST(JsonToMessage, RoundTripsAndTakesEitherFieldNaming) {
  v1::SubmitJobRequest request;
  ASSERT_TRUE(JsonToMessage(R"({"owner":"ada","spec":{"model":{"depth":4},
      "training":{"stop_on_nonfinite":false},"runs":[{"init":"kaiming"}]}})",
                            request)
                  .ok());
  EXPECT_EQ(request.owner(), "ada");
  EXPECT_EQ(request.spec().model().depth(), 4);
  EXPECT_TRUE(request.spec().training().has_stop_on_nonfinite());
  EXPECT_FALSE(request.spec().training().stop_on_nonfinite());
  EXPECT_EQ(request.spec().runs(0).init(), "kaiming");

  v1::SubmitJobRequest again;
  ASSERT_TRUE(JsonToMessage(MessageToJson(request), again).ok());
  EXPECT_EQ(again.SerializeAsString(), request.SerializeAsString());
}

TEST(JsonToMessage, EmptyBodyIsTheEmptyMessage) {
  v1::CancelJobRequest request;
  request.set_job_id(3);
  EXPECT_TRUE(JsonToMessage("  \n", request).ok());
  EXPECT_EQ(request.job_id(), 0);
}

TEST(JsonToMessage, RefusalsNameTheProblem) {
  v1::SubmitJobRequest request;
  absl::Status s = JsonToMessage(R"({"spec":{"modle":{}}})", request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("modle"), absl::string_view::npos) << s;

  s = JsonToMessage(R"({"spec":{"model":{"depth":"deep"}}})", request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("depth"), absl::string_view::npos) << s;

  s = JsonToMessage(R"({"spec": )", request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not valid JSON"), absl::string_view::npos) << s;
}

TEST(ErrorJson, IsJsonEvenWhenTheMessageQuotesBytesThatAreNotUtf8) {
  // Found by gateway_json_fuzz: the JSON parser quotes the body, and the printer cannot print
  // bytes that are not UTF-8, so the error body lost its message and was not JSON.
  const std::string body(
      "\xff\x01/\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xc1\x8a\xb2\x01``\0\0ze\xfd"
      "2",
      25);
  v1::SubmitJobRequest request;
  const absl::Status refused = JsonToMessage(body, request);
  ASSERT_FALSE(refused.ok());
  google::protobuf::Struct parsed;
  const std::string json = ErrorJson(refused);
  ASSERT_TRUE(JsonToMessage(json, parsed).ok()) << json;
  const auto& error = parsed.fields().at("error").struct_value().fields();
  EXPECT_FALSE(error.at("message").string_value().empty());
  EXPECT_EQ(ErrorJson(absl::InvalidArgumentError("bad \xff byte")),
            R"({"error":{"code":"INVALID_ARGUMENT","message":"bad \\xff byte"}})");
}

TEST(JsonToMessage, RepeatedFieldsMustBeLists) {
  // Protobuf's parser alone would read these as lists of one.
  v1::SubmitJobRequest request;
  absl::Status s = JsonToMessage(R"({"spec":{"runs":{"init":"xavier"}}})", request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.runs must be a JSON list"), absl::string_view::npos) << s;
  EXPECT_EQ(request.spec().runs_size(), 0);  // nothing half-parsed is left behind

  v1::ListJobsRequest list;
  s = JsonToMessage(R"({"states":"JOB_STATE_RUNNING"})", list);
  EXPECT_NE(s.message().find("states must be a JSON list"), absl::string_view::npos) << s;

  // Nor lists of lists, which it reads flattened or as nothing.
  s = JsonToMessage(R"({"spec":{"runs":[[{"init":"xavier"}]]}})", request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.runs[0] is a list: spec.runs must be a JSON list of objects"),
            absl::string_view::npos)
      << s;
  v1::UpdateJobNotesRequest notes;
  s = JsonToMessage(R"({"addTags":[["a"]]})", notes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("add_tags[0] is a list"), absl::string_view::npos) << s;
  EXPECT_EQ(notes.add_tags_size(), 0);

  // Lists, nulls and either naming still parse.
  ASSERT_TRUE(JsonToMessage(R"({"spec":{"runs":[{"init":"xavier"},{"init":"kaiming"}]}})",
                            request).ok());
  EXPECT_EQ(request.spec().runs_size(), 2);
  ASSERT_TRUE(JsonToMessage(R"({"spec":{"runs":null,"name":"n"}})", request).ok());
  ASSERT_TRUE(JsonToMessage(R"({"states":["JOB_STATE_RUNNING"],"page_size":3})", list).ok());
  EXPECT_EQ(list.states_size(), 1);
}

TEST(QueryToMessage, FillsScalarsEnumsAndRepeatedFields) {
  v1::ListJobsRequest request;
  ASSERT_TRUE(QueryToMessage({{"owner", "ada"},
                              {"states", "running,JOB_STATE_QUEUED"},
                              {"states", "Succeeded"},
                              {"nameContains", "lab"},
                              {"page_size", "20"},
                              {"created_after", "2026-01-02T03:04:05Z"}},
                             {}, request)
                  .ok());
  EXPECT_EQ(request.owner(), "ada");
  ASSERT_EQ(request.states_size(), 3);
  EXPECT_EQ(request.states(0), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(request.states(1), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(request.states(2), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(request.name_contains(), "lab");
  EXPECT_EQ(request.page_size(), 20);
  EXPECT_EQ(request.created_after().seconds(), 1767323045);
}

TEST(QueryToMessage, RefusesUnknownReservedRepeatedAndMalformedParameters) {
  v1::ListJobsRequest list;
  absl::Status s = QueryToMessage({{"colour", "red"}}, {}, list);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("\"colour\""), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("page_size"), absl::string_view::npos) << s;  // lists the keys

  s = QueryToMessage({{"page_size", "many"}}, {}, list);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("page"), absl::string_view::npos) << s;

  s = QueryToMessage({{"owner", "a"}, {"owner", "b"}}, {}, list);
  EXPECT_NE(s.message().find("more than once"), absl::string_view::npos) << s;

  s = QueryToMessage({{"states", "sleeping"}}, {}, list);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sleeping"), absl::string_view::npos) << s;

  v1::WatchJobRequest watch;
  s = QueryToMessage({{"job_id", "4"}}, {"job_id"}, watch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("takes cursor."), absl::string_view::npos) << s;
  ASSERT_TRUE(QueryToMessage({{"cursor", "18446744073709551615"}}, {"job_id"}, watch).ok());

  // Bytes that are not UTF-8 cannot travel through the JSON mapping: refused, not dropped.
  s = QueryToMessage({{"page_token", "\xff\xfe"}}, {}, list);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("\"page_token\" is not valid UTF-8"), absl::string_view::npos) << s;
  EXPECT_EQ(watch.cursor(), 18446744073709551615u);
}

}  // namespace
}  // namespace ablate::http
