//! The one tokenizer of the knowledge base: the offline embedder's word
//! features and BM25's terms come from it, so both rankings agree on what a
//! word is. Lowercased Unicode words, a short English stopword list dropped,
//! and a light suffix stemmer (plural, -ing, -ed, -ly, -ation …) so that
//! "forecasts", "forecasting" and "forecast" meet. It is deliberately small
//! and frozen: stored vectors depend on it (see the embedder's `model_id`).

/// Words too common to tell documents apart.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "being", "between", "both", "but", "by", "can", "could", "did", "do", "does",
    "doing", "each", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here",
    "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or",
    "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this",
    "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
    "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
    "your", "yours", "s", "t", "m", "d", "ll", "re", "ve", "let", "lets", "via", "using", "use",
    "used", "uses", "want", "need", "get", "gets", "make", "makes", "way", "thing", "things",
];

static STOPWORD_SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| STOPWORDS.iter().copied().collect());

fn is_stopword(word: &str) -> bool {
    STOPWORD_SET.contains(word)
}

/// Lowercased words (runs of alphanumerics), before stopwords and stemming.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The terms of `text`, in order: words minus stopwords, stemmed.
pub fn terms(text: &str) -> Vec<String> {
    words(text)
        .filter(|w| !is_stopword(w))
        .map(|w| stem(&w))
        .collect()
}

/// A light English suffix stripper. Only suffixes whose removal leaves a
/// stem of at least three characters are stripped, so short words survive.
pub fn stem(word: &str) -> String {
    if word.chars().any(|c| c.is_ascii_digit()) || !word.is_ascii() {
        return word.to_owned();
    }
    let mut w = word.to_owned();
    // Ordered longest first; each rule is (suffix, replacement).
    const RULES: &[(&str, &str)] = &[
        ("ational", "ate"),
        ("ization", "ize"),
        ("ations", "ate"),
        ("ation", "ate"),
        ("iveness", "ive"),
        ("fulness", "ful"),
        ("ousness", "ous"),
        ("nesses", ""),
        ("ness", ""),
        ("ments", ""),
        ("ment", ""),
        ("ities", ""),
        ("ity", ""),
        ("ingly", ""),
        ("edly", ""),
        ("ings", ""),
        ("ing", ""),
        ("ied", "y"),
        ("ies", "y"),
        ("ers", ""),
        ("er", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", ""),
        ("s", ""),
    ];
    for (suffix, replacement) in RULES {
        if let Some(stem) = w.strip_suffix(suffix) {
            if stem.len() < 3 {
                continue;
            }
            // "class" and "process" keep their double s; "boxes" loses "es"
            // but "files" only its "s".
            if *suffix == "s" && stem.ends_with('s') {
                continue;
            }
            if *suffix == "es"
                && !(stem.ends_with('x')
                    || stem.ends_with("sh")
                    || stem.ends_with("ch")
                    || stem.ends_with("ss"))
            {
                continue;
            }
            w = format!("{stem}{replacement}");
            break;
        }
    }
    // "running" → "runn" → "run"; "stopped" → "stopp" → "stop".
    let bytes = w.as_bytes();
    if w.len() > 3
        && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
        && !matches!(bytes[bytes.len() - 1], b'l' | b's' | b'z')
        && word.len() > w.len()
    {
        w.pop();
    }
    // "create" and "creat(ing)" meet on "creat".
    if w.len() > 4 && w.ends_with('e') {
        w.pop();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_dropped() {
        assert!(terms("the of and using").is_empty());
        assert_eq!(terms("I'm using the tool's"), ["tool"]);
    }

    #[test]
    fn inflections_meet_on_one_stem() {
        for group in [
            &["forecast", "forecasts", "forecasting", "forecasted"][..],
            &["run", "running", "runs"],
            &["create", "creates", "creating", "created"],
            &["query", "queries", "queried"],
            &["file", "files"],
            &["box", "boxes"],
            &["deploy", "deployment", "deployments", "deploying"],
        ] {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(
                stems.iter().all(|s| s == &stems[0]),
                "{group:?} → {stems:?}"
            );
        }
        assert_eq!(stem("class"), "class");
        assert_eq!(stem("process"), "process");
    }

    #[test]
    fn terms_drop_stopwords_and_keep_unicode_words() {
        assert_eq!(
            terms("The weather of Zürich"),
            [stem("weather"), "zürich".to_owned()]
        );
        assert!(terms("_ % !").is_empty());
    }
}
