// The HTTP side's pure parts, without a socket: the JSON depth scan, URL decoding, gzip, and
// the static files' rules.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ablate/v1/ablate.pb.h"
#include "absl/strings/str_cat.h"
#include "server/http/compress.h"
#include "server/http/mapping.h"
#include "server/http/message.h"
#include "server/http/static_files.h"

namespace ablate::http {
namespace {

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonDepthWithin, CountsArraysAndObjectsTogether) {
  EXPECT_TRUE(JsonDepthWithin("", 1));
  EXPECT_TRUE(JsonDepthWithin("42", 0));
  EXPECT_TRUE(JsonDepthWithin(Nested(32), 32));
  EXPECT_FALSE(JsonDepthWithin(Nested(33), 32));
  EXPECT_TRUE(JsonDepthWithin(R"({"a":[{"b":[]}],"c":{}})", 4));
  EXPECT_FALSE(JsonDepthWithin(R"({"a":[{"b":[]}],"c":{}})", 3));
  // Siblings do not add up; only nesting does.
  EXPECT_TRUE(JsonDepthWithin("[" + std::string(10000, '[') + "]" + "]", 10002));
  EXPECT_TRUE(JsonDepthWithin("[[],[],[],[]]", 2));
}

TEST(JsonDepthWithin, SkipsStringsAndTheirEscapes) {
  EXPECT_TRUE(JsonDepthWithin(R"({"name":"[[[[[[{{{{"})", 1));
  EXPECT_TRUE(JsonDepthWithin(R"({"name":"a \" [[[[[ \\"})", 1));
  // An escaped backslash ends the escape: the quote after it closes the string.
  EXPECT_FALSE(JsonDepthWithin(R"({"name":"\\"}[[)", 1));
}

// protobuf's parser takes single-quoted strings too: a double quote inside one is a plain
// character and must not hide the brackets after it (a 20 KB body of them took the parser
// seconds of CPU), and a single quote inside a double-quoted string is one too.
TEST(JsonDepthWithin, ReadsSingleQuotedStringsAsTheParserDoes) {
  EXPECT_FALSE(JsonDepthWithin("{'note':'\"', \"addTags\":" + Nested(40) + "}", 32));
  EXPECT_TRUE(JsonDepthWithin("{'note':'[[[\"{{'}", 1));
  EXPECT_TRUE(JsonDepthWithin(R"({"note":"it's [[[["})", 1));
  EXPECT_FALSE(JsonDepthWithin(R"({"note":"it's"}[[)", 1));
  v1::UpdateJobNotesRequest request;
  const absl::Status s =
      JsonToMessage("{'note':'\"', \"addTags\":" + Nested(10000) + "}", request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("(--http-max-json-depth)"), absl::string_view::npos) << s;
}

TEST(JsonToMessage, RefusesDeepNestingBeforeParsingNamingTheLimitAndFlag) {
  v1::SubmitJobRequest request;
  const absl::Status s =
      JsonToMessage(absl::StrCat(R"({"spec":{"runs":)", Nested(40), "}}"), request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("more than 32 levels deep, the limit (--http-max-json-depth)"),
            absl::string_view::npos)
      << s;
  EXPECT_TRUE(JsonToMessage(R"({"spec":{"runs":[{"init":"xavier"}]}})", request).ok());
  EXPECT_FALSE(JsonToMessage(R"({"spec":{"runs":[{"init":"xavier"}]}})", request, 3).ok());
}

TEST(ParseTarget, DecodesThePathAndTheQuery) {
  std::string path;
  std::multimap<std::string, std::string> query;
  ParseTarget("/api/v1/jobs/%0Aforged?owner=ada+lovelace&states=a,b&states=c&flag&x=%FF%2", path,
              query);
  EXPECT_EQ(path, "/api/v1/jobs/\nforged");
  EXPECT_EQ(query.size(), 5u);
  EXPECT_EQ(query.find("owner")->second, "ada lovelace");
  EXPECT_EQ(query.count("states"), 2u);
  EXPECT_EQ(query.find("flag")->second, "");
  EXPECT_EQ(query.find("x")->second, "\xff%2");  // a cut escape is kept as it is
  ParseTarget("/a+b", path, query);
  EXPECT_EQ(path, "/a+b");  // '+' is a space only in a query
  EXPECT_TRUE(query.empty());
}

TEST(Gzip, AcceptsWhatTheClientAllowsAndRoundTrips) {
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("br"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_EQ(GzipETag("\"5a-17\""), "\"5a-17-gzip\"");
  EXPECT_EQ(GzipETag("W/\"5a\""), "W/\"5a-gzip\"");

  std::string text;
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&text, R"({"step":)", i, R"(,"loss":0.25},)");
  const std::string packed = Gzip(text);
  ASSERT_FALSE(packed.empty());
  EXPECT_LT(packed.size(), text.size() / 4);
  std::string unpacked(text.size() + 16, '\0');
  z_stream z{};
  ASSERT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  z.avail_in = static_cast<uInt>(packed.size());
  z.next_out = reinterpret_cast<Bytef*>(unpacked.data());
  z.avail_out = static_cast<uInt>(unpacked.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  unpacked.resize(z.total_out);
  inflateEnd(&z);
  EXPECT_EQ(unpacked, text);

  Request request;
  request.headers = {{"Accept-Encoding", "gzip"}};
  Response image{200, "image/png", text};
  CompressFor(request, image);
  EXPECT_EQ(image.body, text);  // already compressed types are left alone
  Response json{200, "application/json", text};
  CompressFor(request, json);
  EXPECT_EQ(json.body, packed);
  EXPECT_EQ(json.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(json.Header("Vary"), "Accept-Encoding");
}

TEST(StaticFiles, ServesTheDirectoryOnlyWithTypesETagsAndGzip) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / absl::StrCat("ablate_static_", getpid());
  std::filesystem::create_directories(root / "src");
  std::ofstream(root / "index.html") << "<!doctype html><p>page</p>";
  std::ofstream(root / "src" / "app.js") << std::string(4000, ';');
  std::ofstream(root / ".secret") << "hidden";
  StaticFiles files(root, {{"Cache-Control", "no-cache"}});

  Request get;
  get.method = "GET";
  get.path = "/";
  std::optional<Response> page = files.Serve(get);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->content_type, "text/html");
  EXPECT_EQ(page->body, "<!doctype html><p>page</p>");
  EXPECT_EQ(page->Header("Cache-Control"), "no-cache");
  const std::string etag = page->Header("ETag");
  ASSERT_FALSE(etag.empty());
  get.headers = {{"If-None-Match", etag}};
  EXPECT_EQ(files.Serve(get)->status, 304);

  get.path = "/src/app.js";
  get.headers = {{"Accept-Encoding", "gzip"}};
  std::optional<Response> script = files.Serve(get);
  ASSERT_TRUE(script.has_value());
  EXPECT_EQ(script->content_type, "text/javascript");
  EXPECT_EQ(script->Header("Content-Encoding"), "gzip");
  EXPECT_LT(script->body.size(), 200u);
  // Each form has its own tag, and a tag validates only its own form.
  const std::string gzip_etag = script->Header("ETag");
  get.headers = {};
  const std::string plain_etag = files.Serve(get)->Header("ETag");
  EXPECT_EQ(gzip_etag, GzipETag(plain_etag));
  EXPECT_NE(gzip_etag, plain_etag);
  get.headers = {{"Accept-Encoding", "gzip"}, {"If-None-Match", gzip_etag}};
  std::optional<Response> unchanged = files.Serve(get);
  EXPECT_EQ(unchanged->status, 304);
  EXPECT_EQ(unchanged->Header("ETag"), gzip_etag);
  get.headers = {{"Accept-Encoding", "gzip"}, {"If-None-Match", plain_etag}};
  EXPECT_EQ(files.Serve(get)->status, 200);
  get.headers = {{"If-None-Match", gzip_etag}};
  EXPECT_EQ(files.Serve(get)->status, 200);

  for (const char* outside :
       {"/../etc/passwd", "/src/../../etc/passwd", "/.secret", "/nope.js", "/src/..%2f..%2fetc"}) {
    get.path = outside;
    EXPECT_FALSE(files.Serve(get).has_value()) << outside;
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace ablate::http
