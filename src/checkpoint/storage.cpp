// Checkpoint storage: local files with atomic replace, and S3-compatible object storage over libcurl (SigV4).
#include "ringkernel/checkpoint/storage.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

namespace ringkernel::checkpoint {

namespace {

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

Status check_name(const std::string& name, const char* op) {
  if (name.empty() || name.front() == '.' || name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return make_error(ErrorCode::InvalidArgument, "object name '" + name + "' must be non-empty, not start with '.' "
                      "and contain no '/'", op);
  }
  return {};
}

Error io_error(const std::string& what, const std::filesystem::path& p, int e) {
  return make_error(e == ENOENT ? ErrorCode::ActorNotFound : ErrorCode::Internal,
                    what + " failed: " + errno_text(e), p.string());
}

} // namespace

// ---- FileStorage -------------------------------------------------------------------------------------------

Status FileStorage::put(const std::string& name, std::span<const std::byte> data) {
  if (auto st = check_name(name, "FileStorage::put"); !st) return st;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(ErrorCode::Internal, "cannot create directory: " + ec.message(), dir_.string());
  static std::atomic<std::uint64_t> counter{0};
  // Hidden and unique per writer, so list() ignores it and concurrent writers never share one.
  const auto tmp = dir_ / ("." + name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("open", tmp, errno);
  auto fail = [&](const char* what, int e) -> Status {
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error(what, tmp, e);
  };
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, std::min<std::size_t>(data.size() - done, std::size_t{1} << 26));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write", n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync", errno);
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return io_error("close", tmp, e);
  }
  const auto final_path = dir_ / name;
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return io_error("rename", final_path, e);
  }
  // The rename itself is durable only once the directory entry is.
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io_error("open directory", dir_, errno);
  const int rc = ::fsync(dfd);
  const int e = errno;
  ::close(dfd);
  if (rc != 0) return io_error("fsync directory", dir_, e);
  return {};
}

Result<std::vector<std::byte>> FileStorage::get(const std::string& name) {
  if (auto st = check_name(name, "FileStorage::get"); !st) return st.error();
  const auto path = dir_ / name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return make_error(ErrorCode::ActorNotFound, "no such object", path.string());
    return io_error("open", path, e);
  }
  struct stat stbuf {};
  if (::fstat(fd, &stbuf) != 0) {
    const int e = errno;
    ::close(fd);
    return io_error("stat", path, e);
  }
  std::vector<std::byte> out(static_cast<std::size_t>(stbuf.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return io_error("read", path, e);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

namespace {
// ".<name>.tmp-<pid>-<n>" written by put(): true when its writer process no longer exists (it crashed or was
// killed mid-write). A live writer, or a pid reused since, keeps its file.
bool abandoned_temporary(const std::string& file) {
  const auto at = file.rfind(".tmp-");
  if (file.empty() || file.front() != '.' || at == std::string::npos) return false;
  const char* p = file.c_str() + at + 5;
  char* end = nullptr;
  const long pid = std::strtol(p, &end, 10);
  if (end == p || *end != '-' || pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}
} // namespace

Result<std::vector<ObjectInfo>> FileStorage::list(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string n = entry.path().filename().string();
    if (!n.empty() && n.front() == '.' && entry.is_regular_file(ec) && abandoned_temporary(n)) {
      std::error_code ignored;  // best effort: another lister may have removed it first
      std::filesystem::remove(entry.path(), ignored);
      continue;
    }
    if (n.empty() || n.front() == '.' || !entry.is_regular_file(ec)) continue;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    out.push_back({n, static_cast<std::uint64_t>(entry.file_size(ec))});
  }
  if (ec) return make_error(ErrorCode::Internal, "cannot list: " + ec.message(), dir_.string());
  std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  return out;
}

Status FileStorage::remove(const std::string& name) {
  if (auto st = check_name(name, "FileStorage::remove"); !st) return st;
  const auto path = dir_ / name;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink", path, errno);
  return {};
}

// ---- S3Storage ---------------------------------------------------------------------------------------------

namespace {

std::string uri_encode(const std::string& s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string xml_text(const std::string& body, const std::string& tag, std::size_t from = 0, std::size_t* end = nullptr) {
  const std::string open = "<" + tag + ">";
  const std::string close = "</" + tag + ">";
  const std::size_t a = body.find(open, from);
  if (a == std::string::npos) return {};
  const std::size_t b = body.find(close, a + open.size());
  if (b == std::string::npos) return {};
  if (end != nullptr) *end = b + close.size();
  std::string v = body.substr(a + open.size(), b - a - open.size());
  // The few entities S3 emits in keys and ETags.
  const std::pair<const char*, const char*> ents[] = {{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"},
                                                     {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from_s, to_s] : ents) {
    for (std::size_t p = v.find(from_s); p != std::string::npos; p = v.find(from_s, p + 1)) {
      v.replace(p, std::strlen(from_s), to_s);
    }
  }
  return v;
}

struct Transfer {
  std::string* body;
  std::vector<std::byte>* sink;
  std::string* etag;
};

std::size_t on_write(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const std::size_t len = size * n;
  if (t->sink != nullptr) {
    const auto* b = reinterpret_cast<const std::byte*>(p);
    t->sink->insert(t->sink->end(), b, b + len);
  } else if (t->body->size() < (std::size_t{1} << 20)) {
    t->body->append(p, len);
  }
  return len;
}

std::size_t on_header(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const std::string line(p, size * n);
  if (line.size() > 5 && (line.compare(0, 5, "ETag:") == 0 || line.compare(0, 5, "etag:") == 0)) {
    std::string v = line.substr(5);
    while (!v.empty() && (v.front() == ' ')) v.erase(v.begin());
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    *t->etag = v;
  }
  return size * n;
}

Status http_status(const S3Storage::Response& r, const std::string& what) {
  if (r.status >= 200 && r.status < 300) return {};
  const std::string code = xml_text(r.body, "Code");
  const std::string msg = "HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                          (xml_text(r.body, "Message").empty() ? "" : ": " + xml_text(r.body, "Message"));
  if (r.status == 401 || r.status == 403) return make_error(ErrorCode::InvalidArgument, "access denied (" + msg + ")", what);
  if (r.status == 404) return make_error(ErrorCode::ActorNotFound, "no such object or bucket (" + msg + ")", what);
  if (r.status >= 500 || r.status == 429) return make_error(ErrorCode::BackendUnavailable, "storage unavailable (" + msg + ")", what);
  return make_error(ErrorCode::Internal, "unexpected response (" + msg + ")", what);
}

} // namespace

Result<std::unique_ptr<S3Storage>> S3Storage::create(S3Config cfg) {
  const char* ctx = "S3Storage::create";
  if (cfg.endpoint.rfind("http://", 0) != 0 && cfg.endpoint.rfind("https://", 0) != 0) {
    return make_error(ErrorCode::InvalidArgument, "endpoint must start with http:// or https://", ctx);
  }
  while (!cfg.endpoint.empty() && cfg.endpoint.back() == '/') cfg.endpoint.pop_back();
  if (cfg.bucket.empty() || cfg.bucket.find('/') != std::string::npos) {
    return make_error(ErrorCode::InvalidArgument, "bucket must be a non-empty name without '/'", ctx);
  }
  if (cfg.region.empty() || cfg.access_key.empty() || cfg.secret_key.empty()) {
    return make_error(ErrorCode::InvalidArgument, "region, access_key and secret_key are required", ctx);
  }
  if (cfg.part_size < (std::size_t{5} << 20)) {
    return make_error(ErrorCode::InvalidArgument, "part_size must be at least 5 MiB (an S3 rule)", ctx);
  }
  if (cfg.multipart_threshold < cfg.part_size) {
    return make_error(ErrorCode::InvalidArgument, "multipart_threshold must be >= part_size", ctx);
  }
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<S3Storage> s(new S3Storage(std::move(cfg)));
  s->curl_ = curl_easy_init();
  if (s->curl_ == nullptr) return make_error(ErrorCode::Internal, "curl_easy_init failed", ctx);
  return s;
}

S3Storage::~S3Storage() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string S3Storage::url_for(const std::string& name) const {
  const std::string key = name.empty() ? std::string() : uri_encode(cfg_.prefix + name, true);
  if (cfg_.path_style) return cfg_.endpoint + "/" + cfg_.bucket + (key.empty() ? "" : "/" + key);
  const std::size_t scheme = cfg_.endpoint.find("://") + 3;
  return cfg_.endpoint.substr(0, scheme) + cfg_.bucket + "." + cfg_.endpoint.substr(scheme) + "/" + key;
}

std::string S3Storage::sigv4_param() const { return "aws:amz:" + cfg_.region + ":s3"; }

Result<S3Storage::Response> S3Storage::request(const std::string& method, const std::string& url,
                                               std::span<const std::byte> body, std::vector<std::byte>* sink,
                                               const std::string& what) {
  auto* h = static_cast<CURL*>(curl_);
  std::chrono::milliseconds backoff = cfg_.retry_backoff;
  std::string last;
  for (unsigned attempt = 0;; ++attempt) {
    ++requests_;
    Response r;
    if (sink != nullptr) sink->clear();
    Transfer t{&r.body, sink, &r.etag};
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    const std::string sig = sigv4_param();
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sig.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, cfg_.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, cfg_.secret_key.c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    if (method == "PUT" || method == "POST") {
      // Bodies are in memory: POSTFIELDS lets libcurl hash them for the SigV4 payload signature.
      headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.empty() ? "" : reinterpret_cast<const char*>(body.data()));
      if (method == "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (method == "DELETE") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    bool retry = false;
    if (rc != CURLE_OK) {
      last = std::string("network failure: ") + curl_easy_strerror(rc);
      retry = true;
    } else {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
      if (sink != nullptr && (r.status < 200 || r.status >= 300)) {  // an error document, not the object
        r.body.assign(reinterpret_cast<const char*>(sink->data()), std::min<std::size_t>(sink->size(), 1u << 20));
      }
      if (r.status >= 500 || r.status == 429) {
        last = http_status(r, what).error().message();
        retry = true;
      } else {
        return r;
      }
    }
    if (!retry || attempt >= cfg_.max_retries) {
      return make_error(ErrorCode::BackendUnavailable,
                        last + " (after " + std::to_string(attempt + 1) + " attempts)", what);
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

Status S3Storage::put(const std::string& name, std::span<const std::byte> data) {
  const std::string what = "S3 put '" + name + "'";
  if (auto st = check_name(name, "S3Storage::put"); !st) return st;
  if (data.size() >= cfg_.multipart_threshold) return put_multipart(name, data);
  auto r = request("PUT", url_for(name), data, nullptr, what);
  if (!r) return r.error();
  return http_status(*r, what);
}

Status S3Storage::put_multipart(const std::string& name, std::span<const std::byte> data) {
  const std::string what = "S3 multipart put '" + name + "'";
  const std::string url = url_for(name);
  auto init = request("POST", url + "?uploads", {}, nullptr, what);
  if (!init) return init.error();
  if (auto st = http_status(*init, what); !st) return st;
  const std::string upload_id = xml_text(init->body, "UploadId");
  if (upload_id.empty()) return make_error(ErrorCode::Internal, "no UploadId in the response", what);
  const std::string qid = "uploadId=" + uri_encode(upload_id, false);
  auto abort_upload = [&](Error e) -> Status {
    (void)request("DELETE", url + "?" + qid, {}, nullptr, what);  // best effort: do not leave parts billed
    return e;
  };
  std::string complete = "<CompleteMultipartUpload>";
  std::size_t part = 1;
  for (std::size_t off = 0; off < data.size(); off += cfg_.part_size, ++part) {
    const auto chunk = data.subspan(off, std::min(cfg_.part_size, data.size() - off));
    auto r = request("PUT", url + "?partNumber=" + std::to_string(part) + "&" + qid, chunk, nullptr,
                     what + " part " + std::to_string(part));
    if (!r) return abort_upload(r.error());
    if (auto st = http_status(*r, what + " part " + std::to_string(part)); !st) return abort_upload(st.error());
    if (r->etag.empty()) return abort_upload(make_error(ErrorCode::Internal, "part has no ETag", what));
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + r->etag + "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  auto done = request("POST", url + "?" + qid,
                      std::span<const std::byte>(reinterpret_cast<const std::byte*>(complete.data()), complete.size()),
                      nullptr, what);
  if (!done) return abort_upload(done.error());
  if (auto st = http_status(*done, what); !st) return abort_upload(st.error());
  // S3 may answer 200 and still report an error in the body.
  if (done->body.find("<Error>") != std::string::npos) {
    return abort_upload(make_error(ErrorCode::Internal, "completion failed: " + xml_text(done->body, "Code"), what));
  }
  return {};
}

Result<std::vector<std::byte>> S3Storage::get(const std::string& name) {
  const std::string what = "S3 get '" + name + "'";
  if (auto st = check_name(name, "S3Storage::get"); !st) return st.error();
  std::vector<std::byte> data;
  auto r = request("GET", url_for(name), {}, &data, what);
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300) return http_status(*r, what).error();
  return data;
}

Result<std::vector<ObjectInfo>> S3Storage::list(const std::string& prefix) {
  const std::string what = "S3 list '" + prefix + "'";
  std::vector<ObjectInfo> out;
  std::string token;
  for (;;) {
    // Query parameters in canonical (sorted) order, as SigV4 signs them.
    std::string q = "?";
    if (!token.empty()) q += "continuation-token=" + uri_encode(token, false) + "&";
    q += "list-type=2&prefix=" + uri_encode(cfg_.prefix + prefix, false);
    auto r = request("GET", url_for("") + q, {}, nullptr, what);
    if (!r) return r.error();
    if (auto st = http_status(*r, what); !st) return st.error();
    std::size_t at = 0;
    for (;;) {
      std::size_t end = 0;
      const std::string item = xml_text(r->body, "Contents", at, &end);
      if (end == 0) break;
      at = end;
      std::string key = xml_text(item, "Key");
      if (key.compare(0, cfg_.prefix.size(), cfg_.prefix) != 0) continue;
      key.erase(0, cfg_.prefix.size());
      out.push_back({key, std::strtoull(xml_text(item, "Size").c_str(), nullptr, 10)});
    }
    if (xml_text(r->body, "IsTruncated") != "true") break;
    token = xml_text(r->body, "NextContinuationToken");
    if (token.empty()) break;
  }
  std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  return out;
}

Status S3Storage::remove(const std::string& name) {
  const std::string what = "S3 delete '" + name + "'";
  if (auto st = check_name(name, "S3Storage::remove"); !st) return st;
  auto r = request("DELETE", url_for(name), {}, nullptr, what);
  if (!r) return r.error();
  if (r->status == 404) return {};
  return http_status(*r, what);
}

Status S3Storage::create_bucket() {
  const std::string what = "S3 create bucket '" + cfg_.bucket + "'";
  auto r = request("PUT", url_for(""), {}, nullptr, what);
  if (!r) return r.error();
  if (r->status == 409 && xml_text(r->body, "Code") == "BucketAlreadyOwnedByYou") return {};
  return http_status(*r, what);
}

} // namespace ringkernel::checkpoint
