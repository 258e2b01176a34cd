//! The 4 KiB OpenAI chat request both `benches/proxy_load.rs` and `benches/request_path.rs` send.

use serde_json::{json, Value};

/// Request body size.
pub const BODY_BYTES: usize = 4096;

/// A realistic 4 KiB OpenAI chat request: system prompt, a few turns of mixed Korean/English business text (with the
/// kind of invented contact details a scanner must look at), padded to exactly [`BODY_BYTES`].
pub fn chat_body(
    model: &str,
    stream: bool,
) -> Result<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>> {
    let paragraphs = [
        "안녕하세요. 다음 주 서울 본사에서 열리는 분기 실적 검토 회의 자료를 요약해 주세요. Please keep the tone formal.",
        "Q3 revenue grew 12% year over year, driven by the enterprise segment; 영업이익률은 전 분기 대비 1.8%p 개선되었습니다.",
        "담당자 연락처: 김민준 과장, 010-2345-6789, minjun.kim@example.co.kr — 회의실 예약은 총무팀에 문의 바랍니다.",
        "Action items: (1) finalize the Busan logistics contract, (2) 고객 이탈률 분석 보고서 작성, (3) review vendor SLAs.",
        "The board asked for a short risk section: 환율 변동, 원자재 가격 상승, and supply-chain delays in Southeast Asia.",
        "회의록은 한국어와 영어로 모두 작성하고, 민감한 개인정보는 포함하지 말아 주세요. Summaries should be under 300 words.",
    ];
    let mut messages = vec![
        json!({"role": "system", "content": "You are a careful assistant for a Korean enterprise. 답변은 간결하고 정확하게 작성하세요."}),
    ];
    for (i, p) in paragraphs.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": format!("{p} {p}")}));
    }
    messages.push(json!({"role": "user", "content": ""}));
    let mut req = json!({
        "model": model,
        "messages": messages,
        "temperature": 0.2,
        "max_tokens": 512,
        "stream": stream,
        "user": "bench-user-0001",
    });
    let base = serde_json::to_vec(&req)?.len();
    let last_len = BODY_BYTES
        .checked_sub(base)
        .ok_or("base request exceeds 4 KiB")?;
    let filler = "마지막으로 전체 내용을 세 문단으로 정리해 주세요. Then list open questions. ";
    let mut last = String::new();
    while last.len() < last_len {
        let room = last_len - last.len();
        match filler
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .take_while(|&e| e <= room)
            .last()
        {
            Some(end) => last.push_str(&filler[..end]),
            None => last.push_str(&".".repeat(room)),
        }
    }
    if let Some(Value::Object(m)) = req["messages"].as_array_mut().and_then(|a| a.last_mut()) {
        m.insert("content".into(), Value::String(last));
    }
    let out = serde_json::to_vec(&req)?;
    if out.len() != BODY_BYTES {
        return Err(format!("request body is {} bytes, wanted {BODY_BYTES}", out.len()).into());
    }
    Ok(bytes::Bytes::from(out))
}
