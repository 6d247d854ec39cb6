"""The InsTag intention-tagging prompt (Lu et al., 2023), as used by InsCL.

InsTag asks ChatGPT: "You are a helpful assistant. Please identify tags of user
intentions in the following user query and provide an explanation for each tag.
Please respond in the JSON format {"tag": str, "explanation": str}." We keep that
wording and only make the expected shape explicit (a JSON list of such objects), so
that one reply holds all the tags of a query.
"""

from __future__ import annotations

SYSTEM_PROMPT = "You are a helpful assistant."

USER_TEMPLATE = (
    "Please identify tags of user intentions in the following user query and provide an explanation "
    "for each tag. Please respond in the JSON format {{\"tag\": str, \"explanation\": str}}, one such "
    "object per tag, all of them in one JSON list.\n"
    "User query: {instruction}"
)


def build_messages(instruction: str) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for the intention tags of ``instruction``."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_TEMPLATE.format(instruction=instruction)},
    ]


def build_plain_prompt(instruction: str) -> str:
    """The same request as one string, for models without a chat template."""
    messages = build_messages(instruction)
    return f"{messages[0]['content']}\n\nUser: {messages[1]['content']}\nAssistant:"
