//! Splitting a document into chunks for embedding: paragraphs first, then
//! sentences, packed greedily up to [`MAX_CHUNK_CHARS`]; each chunk after the
//! first starts with the last sentence(s) of the previous one (up to
//! [`OVERLAP_CHARS`]), so a passage cut at a boundary is still found whole in
//! one of the two. A sentence longer than the bound is cut at whitespace.

pub const MAX_CHUNK_CHARS: usize = 800;
pub const OVERLAP_CHARS: usize = 160;

/// Sentences of a paragraph: ends at `.`, `!` or `?` followed by whitespace.
fn sentences(paragraph: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = paragraph.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            let s = current.split_whitespace().collect::<Vec<_>>().join(" ");
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    let s = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Cuts a piece longer than `max` characters at whitespace (or anywhere,
/// for a single giant word).
fn bounded(piece: &str, max: usize) -> Vec<String> {
    if piece.chars().count() <= max {
        return vec![piece.to_owned()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for word in piece.split_whitespace() {
        let mut word = word;
        while word.chars().count() > max {
            let cut = word.char_indices().nth(max).map_or(word.len(), |(i, _)| i);
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(word[..cut].to_owned());
            word = &word[cut..];
        }
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The chunks of `content`; empty content has none.
pub fn chunk(content: &str) -> Vec<String> {
    let pieces: Vec<String> = content
        .split("\n\n")
        .flat_map(sentences)
        .flat_map(|s| bounded(&s, MAX_CHUNK_CHARS))
        .collect();
    let mut chunks: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut fresh = 0usize; // pieces in `current` not already in the previous chunk
    let len = |parts: &[String]| parts.iter().map(|p| p.chars().count() + 1).sum::<usize>();
    for piece in pieces {
        if fresh > 0 && len(&current) + piece.chars().count() > MAX_CHUNK_CHARS {
            chunks.push(current.join(" "));
            // Carry the tail as overlap.
            let mut overlap: Vec<String> = Vec::new();
            for p in current.iter().rev() {
                if len(&overlap) + p.chars().count() > OVERLAP_CHARS
                    || len(&overlap) + p.chars().count() + piece.chars().count() > MAX_CHUNK_CHARS
                {
                    break;
                }
                overlap.insert(0, p.clone());
            }
            current = overlap;
            fresh = 0;
        }
        current.push(piece);
        fresh += 1;
    }
    if fresh > 0 {
        chunks.push(current.join(" "));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_content_is_one_chunk() {
        assert_eq!(chunk("One. Two!\n\nThree?"), ["One. Two! Three?"]);
        assert!(chunk("  \n\n ").is_empty());
    }

    #[test]
    fn long_content_is_bounded_overlapping_and_complete() {
        let sentences: Vec<String> = (0..120)
            .map(|i| format!("Sentence number {i} says something about tools."))
            .collect();
        let content = sentences.join(" ");
        let chunks = chunk(&content);
        assert!(chunks.len() > 3);
        for c in &chunks {
            assert!(c.chars().count() <= MAX_CHUNK_CHARS, "{}", c.len());
        }
        for s in &sentences {
            assert!(chunks.iter().any(|c| c.contains(s.as_str())), "{s} lost");
        }
        // Consecutive chunks share their boundary sentence.
        for pair in chunks.windows(2) {
            let first_of_next = pair[1].split_inclusive(". ").next().unwrap_or("").trim();
            assert!(pair[0].contains(first_of_next.trim_end_matches(' ')));
        }
    }

    #[test]
    fn a_giant_word_is_cut() {
        let giant = "x".repeat(2000);
        let chunks = chunk(&giant);
        assert!(chunks.iter().all(|c| c.chars().count() <= MAX_CHUNK_CHARS));
        assert_eq!(chunks.concat().len(), 2000);
    }
}
