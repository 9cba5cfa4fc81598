/// @file storage.hpp
/// @brief Where checkpoints live: local files (atomic replace) and S3-compatible object storage (AWS S3, MinIO,
/// Ceph, Google Cloud Storage through its XML API with HMAC keys).
///
/// Error mapping (all errors name the object and the operation):
///   * network failure, timeout, HTTP 5xx/429 after the retries are spent -> BackendUnavailable
///   * HTTP 401/403 (bad keys, signature, permissions)                     -> InvalidArgument ("access denied")
///   * a missing object                                                    -> ActorNotFound ("no such object")
///   * local I/O failures                                                  -> Internal (with errno text)
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ringkernel/error.hpp"

namespace ringkernel::checkpoint {

/// One stored object.
struct ObjectInfo {
  std::string name;        ///< Object name (relative to the storage's root/prefix).
  std::uint64_t size = 0;  ///< Bytes.
};

/// An object being written piece by piece (Storage::open_writer). Nothing is visible under the name until
/// commit() succeeds; destroying an uncommitted writer (or abort()) discards what was written, and a failed
/// write() leaves the writer failed (commit then returns the error). Used from one thread at a time.
class ObjectWriter {
public:
  virtual ~ObjectWriter() = default;
  /// Appends bytes.
  [[nodiscard]] virtual Status write(std::span<const std::byte> data) = 0;
  /// Makes the object durable and visible under its name, atomically replacing any previous one.
  [[nodiscard]] virtual Status commit() = 0;
  /// Discards the object (idempotent; after commit it does nothing).
  virtual void abort() noexcept = 0;
  /// Bytes written so far.
  [[nodiscard]] virtual std::uint64_t written() const noexcept = 0;
};

/// An object being read sequentially (Storage::open_reader).
class ObjectReader {
public:
  virtual ~ObjectReader() = default;
  /// The object's size in bytes.
  [[nodiscard]] virtual std::uint64_t size() const noexcept = 0;
  /// Reads the next bytes into `dst`; returns how many (less than dst.size() only at the end, 0 at the end).
  [[nodiscard]] virtual Result<std::size_t> read(std::span<std::byte> dst) = 0;
};

/// A flat namespace of named byte objects. Implementations are safe to use from one thread at a time.
class Storage {
public:
  virtual ~Storage() = default;
  /// Starts writing `name`; see ObjectWriter (atomic replace on commit, nothing left behind otherwise).
  [[nodiscard]] virtual Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& name) = 0;
  /// Opens `name` for sequential reading (ActorNotFound when missing).
  [[nodiscard]] virtual Result<std::unique_ptr<ObjectReader>> open_reader(const std::string& name) = 0;
  /// Stores `data` under `name`, replacing any previous object atomically: a reader sees the old or the new
  /// object, never a mix, even if the writer crashes. (open_writer + write + commit.)
  [[nodiscard]] virtual Status put(const std::string& name, std::span<const std::byte> data);
  /// Reads a whole object (open_reader + read).
  [[nodiscard]] virtual Result<std::vector<std::byte>> get(const std::string& name);
  /// Objects whose name starts with `prefix`, sorted by name.
  [[nodiscard]] virtual Result<std::vector<ObjectInfo>> list(const std::string& prefix) = 0;
  /// Deletes an object (deleting a missing object is not an error).
  [[nodiscard]] virtual Status remove(const std::string& name) = 0;
};

/// Files in one directory. put() writes a hidden temporary file, fsyncs it, renames it over the target and
/// fsyncs the directory, so a crash at any point leaves either the previous object or the new one.
class FileStorage final : public Storage {
public:
  /// Storage rooted at `dir` (created if missing on first put).
  explicit FileStorage(std::filesystem::path dir) : dir_(std::move(dir)) {}
  /// Writes a hidden temporary file as data comes (starting write-back early), then fsync, rename, fsync dir.
  [[nodiscard]] Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& name) override;
  /// See Storage::open_reader.
  [[nodiscard]] Result<std::unique_ptr<ObjectReader>> open_reader(const std::string& name) override;
  /// See Storage::list. Temporary files left by writers that died mid-write are not listed, and removed.
  [[nodiscard]] Result<std::vector<ObjectInfo>> list(const std::string& prefix) override;
  /// See Storage::remove.
  [[nodiscard]] Status remove(const std::string& name) override;
  /// The directory.
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }

private:
  std::filesystem::path dir_;
};

/// Settings of an S3-compatible store.
struct S3Config {
  std::string endpoint = "https://s3.amazonaws.com";  ///< Scheme, host and optional port.
  std::string region = "us-east-1";                   ///< SigV4 region ("auto" for GCS).
  std::string bucket;                                 ///< Bucket name.
  std::string access_key;                             ///< Access key id (GCS: HMAC access id).
  std::string secret_key;                             ///< Secret key (GCS: HMAC secret).
  std::string prefix;                                 ///< Prepended to every object name ("cluster-a/").
  bool path_style = true;                             ///< endpoint/bucket/key (MinIO, Ceph, moto) vs bucket.host/key.
  std::size_t multipart_threshold = std::size_t{16} << 20;  ///< Objects at least this large use multipart upload.
  std::size_t part_size = std::size_t{8} << 20;       ///< Multipart part size (S3 requires >= 5 MiB but the last).
  unsigned upload_concurrency = 4;                    ///< Parts of one multipart upload in flight at once (>= 1);
                                                      ///< each holds a copy of its part in memory.
  unsigned max_retries = 3;                           ///< Retries of network failures, 5xx and 429.
  std::chrono::milliseconds retry_backoff{100};       ///< First retry delay; doubles each retry.
  std::chrono::milliseconds timeout{30000};           ///< Per-request timeout.
  std::chrono::milliseconds connect_timeout{5000};    ///< Connection timeout.

  /// Google Cloud Storage through its S3-compatible XML API with HMAC keys (virtual-host style, region "auto").
  static S3Config gcs(std::string bucket, std::string hmac_access_id, std::string hmac_secret) {
    S3Config c;
    c.endpoint = "https://storage.googleapis.com";
    c.region = "auto";
    c.bucket = std::move(bucket);
    c.access_key = std::move(hmac_access_id);
    c.secret_key = std::move(hmac_secret);
    c.path_style = false;
    return c;
  }
};

/// Objects in an S3-compatible bucket over HTTP(S), signed with AWS Signature V4 (libcurl).
class S3Storage final : public Storage {
public:
  /// Validates `cfg` (InvalidArgument names the bad field) and prepares a client.
  static Result<std::unique_ptr<S3Storage>> create(S3Config cfg);
  ~S3Storage() override;
  S3Storage(const S3Storage&) = delete;
  S3Storage& operator=(const S3Storage&) = delete;
  S3Storage(S3Storage&&) = delete;
  S3Storage& operator=(S3Storage&&) = delete;

  /// Objects that reach multipart_threshold are uploaded as a multipart upload, part by part as the data comes
  /// (aborted when the writer fails or is dropped uncommitted); smaller ones with one PUT at commit.
  [[nodiscard]] Result<std::unique_ptr<ObjectWriter>> open_writer(const std::string& name) override;
  /// Reads the object in ranged GETs of part_size bytes.
  [[nodiscard]] Result<std::unique_ptr<ObjectReader>> open_reader(const std::string& name) override;
  /// See Storage::get (one GET).
  [[nodiscard]] Result<std::vector<std::byte>> get(const std::string& name) override;
  /// See Storage::list (follows continuation tokens).
  [[nodiscard]] Result<std::vector<ObjectInfo>> list(const std::string& prefix) override;
  /// See Storage::remove.
  [[nodiscard]] Status remove(const std::string& name) override;
  /// Creates the bucket (an existing bucket owned by the caller is not an error).
  [[nodiscard]] Status create_bucket();
  /// URL of an object (or of the bucket for an empty name), as requests use it.
  [[nodiscard]] std::string url_for(const std::string& name) const;
  /// The libcurl CURLOPT_AWS_SIGV4 parameter ("aws:amz:<region>:s3").
  [[nodiscard]] std::string sigv4_param() const;
  /// HTTP requests sent so far, retries included (for tests and metrics).
  [[nodiscard]] std::uint64_t requests() const noexcept { return requests_; }
  /// The configuration.
  [[nodiscard]] const S3Config& config() const noexcept { return cfg_; }

  /// One HTTP exchange's outcome (internal to the client; public for the request helper).
  struct Response {
    long status = 0;                 ///< HTTP status.
    std::string body;                ///< Response body (small responses) .
    std::string etag;                ///< ETag header.
  };

private:
  friend class S3Writer;
  friend class S3Reader;
  explicit S3Storage(S3Config cfg) : cfg_(std::move(cfg)) {}
  // On the shared handle (requests take turns).
  Result<Response> request(const std::string& method, const std::string& url, std::span<const std::byte> body,
                           std::vector<std::byte>* sink, const std::string& what,
                           const std::string& extra_header = {}, std::uint64_t* content_length = nullptr);
  // On the caller's own easy handle (concurrent part uploads).
  Result<Response> request_on(void* handle, const std::string& method, const std::string& url,
                              std::span<const std::byte> body, std::vector<std::byte>* sink, const std::string& what,
                              const std::string& extra_header = {}, std::uint64_t* content_length = nullptr);
  S3Config cfg_;
  void* curl_ = nullptr;
  // One easy handle serves every request; a reader's read-ahead thread and the thread that opens a delta's
  // parent both send requests, so they take turns.
  std::mutex request_mu_;
  std::atomic<std::uint64_t> requests_{0};
};

} // namespace ringkernel::checkpoint
