//! Masks for personal data that must appear in logs only in part.

/// `010-1234-5678` → `010-****-5678`: enough to tell numbers apart, too little to call anyone.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<usize> = phone
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)
        .collect();
    if digits.len() < 7 {
        return "*".repeat(phone.chars().count());
    }
    let keep_head = 3;
    let keep_tail = 4;
    let hidden: std::collections::HashSet<usize> = digits[keep_head..digits.len() - keep_tail]
        .iter()
        .copied()
        .collect();
    phone
        .char_indices()
        .map(|(i, c)| if hidden.contains(&i) { '*' } else { c })
        .collect()
}

/// `hong.gildong@example.com` → `h*********g@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let chars: Vec<char> = local.chars().collect();
            let masked = match chars.len() {
                0 => String::new(),
                1 | 2 => "*".repeat(chars.len()),
                n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
            };
            format!("{masked}@{domain}")
        }
        None => "*".repeat(email.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_only_prefix_and_last_four() {
        assert_eq!(mask_phone("010-1234-5678"), "010-****-5678");
        assert_eq!(mask_phone("01012345678"), "010****5678");
        assert_eq!(mask_phone("12"), "**");
    }

    #[test]
    fn emails_keep_first_and_last_letter_and_domain() {
        assert_eq!(
            mask_email("hong.gildong@example.com"),
            "h**********g@example.com"
        );
        assert_eq!(mask_email("ab@x.kr"), "**@x.kr");
        assert_eq!(mask_email("nonsense"), "********");
    }
}
