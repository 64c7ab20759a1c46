#pragma once
// The token ids of a language-model prompt, as the multiple-choice and generation evaluations
// build them: [bos] (when asked) followed by the tokenizer's ids of the text.
#include <cstdint>
#include <string_view>
#include <vector>

#include "moerb/text/tokenizer.hpp"
#include "moerb/text/vocabulary.hpp"

namespace moerb::detail::evaluation {

template <Tokenizer Tok>
std::vector<std::int32_t> prompt_tokens(const Tok& tokenizer, std::string_view text, bool add_bos) {
  std::vector<std::int32_t> ids;
  if (add_bos) ids.push_back(Vocabulary::bos_id);
  const std::vector<TokenId> encoded = tokenizer.encode(text);
  ids.insert(ids.end(), encoded.begin(), encoded.end());
  return ids;
}

}  // namespace moerb::detail::evaluation
