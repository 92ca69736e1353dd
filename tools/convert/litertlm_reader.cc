#include "convert/litertlm_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "litertlm_subset_generated.h"

namespace edgelm::litertlm {
namespace {

namespace fb = litertlm_subset::header;

constexpr char kMagic[8] = {'L', 'I', 'T', 'E', 'R', 'T', 'L', 'M'};
constexpr uint64_t kHeaderBegin = 32;  // the FlatBuffer starts here; its root offset is relative to it
constexpr uint32_t kSupportedMajor = 1;

template <typename T>
T LoadLE(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

MetadataEntry ToEntry(const fb::KeyValuePair& kv) {
  MetadataEntry e;
  e.key = kv.key() ? kv.key()->str() : "";
  using V = fb::VData;
  e.type = fb::EnumNameVData(kv.value_type());
  if (!kv.value()) return e;  // the verifier accepts a union type without its value: nothing to read
  switch (kv.value_type()) {
    case V::UInt8: e.value = std::to_string(kv.value_as_UInt8()->value()); break;
    case V::Int8: e.value = std::to_string(kv.value_as_Int8()->value()); break;
    case V::UInt16: e.value = std::to_string(kv.value_as_UInt16()->value()); break;
    case V::Int16: e.value = std::to_string(kv.value_as_Int16()->value()); break;
    case V::UInt32: e.value = std::to_string(kv.value_as_UInt32()->value()); break;
    case V::Int32: e.value = std::to_string(kv.value_as_Int32()->value()); break;
    case V::Float32: e.value = std::to_string(kv.value_as_Float32()->value()); break;
    case V::Bool: e.value = kv.value_as_Bool()->value() ? "true" : "false"; break;
    case V::StringValue: {
      const auto* s = kv.value_as_StringValue()->value();
      e.value = s ? s->str() : "";
      break;
    }
    case V::UInt64: e.value = std::to_string(kv.value_as_UInt64()->value()); break;
    case V::Int64: e.value = std::to_string(kv.value_as_Int64()->value()); break;
    case V::Double: e.value = std::to_string(kv.value_as_Double()->value()); break;
    default: e.type = "unknown"; break;
  }
  return e;
}

std::vector<MetadataEntry> ToEntries(const flatbuffers::Vector<flatbuffers::Offset<fb::KeyValuePair>>* kvs) {
  std::vector<MetadataEntry> out;
  if (kvs)
    for (const fb::KeyValuePair* kv : *kvs)
      if (kv) out.push_back(ToEntry(*kv));
  return out;
}

}  // namespace

const char* SectionTypeName(uint8_t data_type) {
  static constexpr const char* kNames[] = {
      "NONE",          "GenericBinaryData", "Deprecated",    "TFLiteModel",          "SP_Tokenizer",
      "LlmMetadataProto", "HF_Tokenizer_Zlib", "TFLiteWeights", "EmbeddingMetadataProto", "ExecutorMetadataProto"};
  return data_type < sizeof kNames / sizeof kNames[0] ? kNames[data_type] : "unknown";
}

Bundle::~Bundle() {
  if (base_) munmap(const_cast<uint8_t*>(base_), static_cast<size_t>(size_));
}

Status Bundle::Open(const std::string& path, std::shared_ptr<const Bundle>* out) {
  std::shared_ptr<Bundle> b(new Bundle());
  b->path_ = path;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  b->size_ = static_cast<uint64_t>(st.st_size);
  if (b->size_ < kHeaderBegin) {
    close(fd);
    return CorruptModel(path + ": " + std::to_string(b->size_) + " bytes, shorter than the 32-byte .litertlm preamble");
  }
  void* p = mmap(nullptr, static_cast<size_t>(b->size_), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return IoError(path + ": mmap failed: " + std::strerror(errno));
  b->base_ = static_cast<const uint8_t*>(p);
  const Status s = b->Parse();
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  *out = std::move(b);
  return Status::Ok();
}

Status Bundle::Parse() {
  if (std::memcmp(base_, kMagic, sizeof kMagic) != 0) return CorruptModel("no LITERTLM magic");
  for (int i = 0; i < 3; ++i) version_[i] = LoadLE<uint32_t>(base_ + 8 + 4 * i);
  if (version_[0] != kSupportedMajor)
    return Unsupported("container version " + std::to_string(version_[0]) + "." + std::to_string(version_[1]) +
                       " (only major version 1 is known)");
  header_end_ = LoadLE<uint64_t>(base_ + 24);
  if (header_end_ <= kHeaderBegin + 4 || header_end_ > size_)
    return CorruptModel("header end " + std::to_string(header_end_) + " outside the file (" + std::to_string(size_) +
                        " bytes)");
  const uint8_t* header = base_ + kHeaderBegin;
  const uint64_t header_size = header_end_ - kHeaderBegin;
  if (header_size >= FLATBUFFERS_MAX_BUFFER_SIZE) return CorruptModel("header FlatBuffer larger than 2 GiB");
  flatbuffers::Verifier verifier(header, static_cast<size_t>(header_size));
  if (!verifier.VerifyBuffer<fb::LiteRTLMMetaData>(nullptr))
    return CorruptModel("the header FlatBuffer (LiteRTLMMetaData) fails verification");
  const fb::LiteRTLMMetaData* meta = flatbuffers::GetRoot<fb::LiteRTLMMetaData>(header);
  if (meta->system_metadata()) system_metadata_ = ToEntries(meta->system_metadata()->entries());
  if (!meta->section_metadata() || !meta->section_metadata()->objects())
    return CorruptModel("the header lists no sections");
  int index = 0;
  for (const fb::SectionObject* object : *meta->section_metadata()->objects()) {
    Section s;
    s.index = index++;
    const std::string where = "section " + std::to_string(s.index);
    if (!object) return CorruptModel(where + " is null");
    s.data_type = object->data_type();
    s.begin = object->begin_offset();
    s.end = object->end_offset();
    s.items = ToEntries(object->items());
    if (s.begin >= s.end) return CorruptModel(where + " is empty or reversed: [" + std::to_string(s.begin) + ", " + std::to_string(s.end) + ")");
    if (s.begin < header_end_) return CorruptModel(where + " begins inside the header");
    if (s.end > size_)
      return CorruptModel(where + " (" + SectionTypeName(s.data_type) + ") ends at " + std::to_string(s.end) +
                          ", past the end of the file (" + std::to_string(size_) + " bytes): truncated?");
    for (const MetadataEntry& item : s.items)
      if (Lower(item.key) == "model_type") s.model_type = Lower(item.value);
    if (s.model_type.empty() && (s.is(SectionType::kTFLiteModel) || s.is(SectionType::kTFLiteWeights)))
      s.model_type = "tf_lite_prefill_decode";
    sections_.push_back(std::move(s));
  }
  return Status::Ok();
}

Status Bundle::Find(SectionType type, std::string_view model_type, const Section** out) const {
  *out = nullptr;
  const std::string wanted = Lower(model_type);
  for (const Section& s : sections_) {
    if (!s.is(type) || (!wanted.empty() && s.model_type != wanted)) continue;
    if (*out)
      return CorruptModel(path_ + ": sections " + std::to_string((*out)->index) + " and " + std::to_string(s.index) +
                          " are both " + SectionTypeName(s.data_type) + (wanted.empty() ? "" : " " + wanted));
    *out = &s;
  }
  return Status::Ok();
}

namespace {

// Protobuf wire format: varints, fixed 32/64-bit and length-delimited fields (no groups).
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}

  struct Field {
    uint32_t number = 0;
    int wire_type = 0;
    uint64_t value = 0;      // varint / fixed
    std::string_view bytes;  // length-delimited
  };

  // *more = false at the end; an error once the input is malformed.
  Status Next(Field* f, bool* more) {
    *more = false;
    if (at_end()) return Status::Ok();
    uint64_t key;
    EDGELM_RETURN_IF_ERROR(Varint(&key));
    f->number = static_cast<uint32_t>(key >> 3);
    f->wire_type = static_cast<int>(key & 7);
    f->bytes = {};
    f->value = 0;
    switch (f->wire_type) {
      case 0: EDGELM_RETURN_IF_ERROR(Varint(&f->value)); break;
      case 1: EDGELM_RETURN_IF_ERROR(Skip(8)); break;
      case 5: EDGELM_RETURN_IF_ERROR(Skip(4)); break;
      case 2: {
        uint64_t length;
        EDGELM_RETURN_IF_ERROR(Varint(&length));
        if (length > data_.size() - pos_) return CorruptModel("proto field longer than its message");
        f->bytes = data_.substr(pos_, static_cast<size_t>(length));
        pos_ += static_cast<size_t>(length);
        break;
      }
      default: return CorruptModel("proto wire type " + std::to_string(f->wire_type) + " is not supported");
    }
    if (f->number == 0) return CorruptModel("proto field number 0");
    *more = true;
    return Status::Ok();
  }

  bool at_end() const { return pos_ == data_.size(); }

  Status Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == data_.size()) return CorruptModel("proto varint runs past the end");
      const auto byte = static_cast<uint8_t>(data_[pos_++]);
      *v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (byte < 0x80) return Status::Ok();
    }
    return CorruptModel("proto varint longer than 10 bytes");
  }

 private:
  Status Skip(size_t n) {
    if (data_.size() - pos_ < n) return CorruptModel("proto fixed-width field runs past the end");
    pos_ += n;
    return Status::Ok();
  }
  std::string_view data_;
  size_t pos_ = 0;
};

// Calls `visit` for every field of `message`.
template <typename Visit>
Status ForEachField(std::string_view message, Visit visit) {
  ProtoReader reader(message);
  ProtoReader::Field f;
  for (bool more = true;;) {
    EDGELM_RETURN_IF_ERROR(reader.Next(&f, &more));
    if (!more) return Status::Ok();
    EDGELM_RETURN_IF_ERROR(visit(f));
  }
}

Status ToInt32(uint64_t varint, int* out) {
  const auto v = static_cast<int64_t>(varint);
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    return CorruptModel("proto int32 out of range");
  *out = static_cast<int>(v);
  return Status::Ok();
}

// TokenIds { repeated int32 ids = 1 }: packed (length-delimited) or one varint per id.
Status ParseTokenIds(std::string_view message, std::vector<int>* ids) {
  return ForEachField(message, [ids](const ProtoReader::Field& f) -> Status {
    if (f.number != 1) return Status::Ok();
    int id;
    if (f.wire_type == 0) {
      EDGELM_RETURN_IF_ERROR(ToInt32(f.value, &id));
      ids->push_back(id);
    } else if (f.wire_type == 2) {
      for (ProtoReader packed(f.bytes); !packed.at_end();) {
        uint64_t v;
        EDGELM_RETURN_IF_ERROR(packed.Varint(&v));
        EDGELM_RETURN_IF_ERROR(ToInt32(v, &id));
        ids->push_back(id);
      }
    } else {
      return CorruptModel("TokenIds.ids has wire type " + std::to_string(f.wire_type));
    }
    return Status::Ok();
  });
}

// TokenUnion { oneof { TokenIds token_ids = 1; string token_str = 2; } }
Status ParseTokenUnion(std::string_view message, TokenRef* out) {
  return ForEachField(message, [out](const ProtoReader::Field& f) -> Status {
    if (f.number == 1 && f.wire_type == 2) {
      out->is_text = false;
      out->ids.clear();
      return ParseTokenIds(f.bytes, &out->ids);
    }
    if (f.number == 2 && f.wire_type == 2) {
      out->is_text = true;
      out->text = std::string(f.bytes);
    }
    return Status::Ok();
  });
}

}  // namespace

Status ParseLlmMetadata(std::string_view bytes, LlmMetadata* out) {
  LlmMetadata m;
  const Status s = ForEachField(bytes, [&m](const ProtoReader::Field& f) -> Status {
    switch (f.number) {
      case 1:
        if (f.wire_type != 2) return CorruptModel("start_token is not a message");
        m.has_start_token = true;
        return ParseTokenUnion(f.bytes, &m.start_token);
      case 2:
        if (f.wire_type != 2) return CorruptModel("stop_tokens is not a message");
        m.stop_tokens.emplace_back();
        return ParseTokenUnion(f.bytes, &m.stop_tokens.back());
      case 5:
        if (f.wire_type != 0) return CorruptModel("max_num_tokens is not a varint");
        return ToInt32(f.value, &m.max_num_tokens);
      case 6:
        if (f.wire_type != 2) return CorruptModel("llm_model_type is not a message");
        return ForEachField(f.bytes, [&m](const ProtoReader::Field& t) {
          m.llm_model_type = static_cast<int>(t.number);
          return Status::Ok();
        });
      case 7:
        if (f.wire_type == 2) m.jinja_prompt_template = std::string(f.bytes);
        return Status::Ok();
      default:
        return Status::Ok();
    }
  });
  if (!s.ok()) return Status(s.code(), "LlmMetadata: " + s.message());
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace edgelm::litertlm
