//! New values for the `random` generator, drawn from the operating system's CSPRNG.
//!
//! Each character of the random part is one byte from `getrandom`, kept only if it falls below
//! the largest multiple of the alphabet's size that fits in a byte, and then reduced modulo the
//! size (rejection sampling). Every symbol is therefore equally likely: plain `byte % size`
//! would favour the first `256 % size` symbols (for the 62 alphanumeric symbols, the first 8
//! would come up 25% more often than the rest).
//!
//! Values only ever leave this module inside a [`SecretValue`], whose `Debug` is redacted, and
//! no error here mentions a value.

use crate::model::SecretValue;

use super::config::{RandomSpec, MAX_LENGTH, MIN_LENGTH, RANDOM_PLACEHOLDER};

/// Bytes asked of the OS at a time: enough for a typical value in one call.
const BATCH: usize = 256;

/// A new value for `spec`: `length` random characters from its charset, placed into its
/// template if it has one.
///
/// `spec` is normally checked by the config already; it is checked again here so a hand-built
/// spec cannot yield a short value or a template without its random part.
pub fn random_value(spec: &RandomSpec) -> Result<SecretValue, String> {
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&spec.length) {
        return Err(format!(
            "random length {} is out of range: use {MIN_LENGTH} to {MAX_LENGTH} characters",
            spec.length
        ));
    }
    if let Some(template) = &spec.template {
        if template.matches(RANDOM_PLACEHOLDER).count() != 1 {
            return Err(format!(
                "the template must contain {RANDOM_PLACEHOLDER} exactly once"
            ));
        }
    }
    let random = sample(spec.charset.alphabet(), spec.length, &mut os_random)?;
    let value = match &spec.template {
        None => random,
        Some(template) => template.replacen(RANDOM_PLACEHOLDER, &random, 1),
    };
    Ok(SecretValue::new(value))
}

fn os_random(buffer: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buffer)
        .map_err(|e| format!("the operating system's random number generator failed: {e}"))
}

/// `length` symbols of `alphabet` (2 to 256 distinct ASCII bytes), each uniformly distributed,
/// from the random bytes `fill` supplies.
fn sample(
    alphabet: &[u8],
    length: usize,
    fill: &mut impl FnMut(&mut [u8]) -> Result<(), String>,
) -> Result<String, String> {
    let size = alphabet.len();
    assert!(
        (2..=256).contains(&size) && alphabet.is_ascii(),
        "an alphabet has 2 to 256 ASCII symbols"
    );
    // The largest multiple of `size` not above 256: bytes from it up are rejected, so each
    // symbol is hit by exactly `limit / size` byte values.
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(length);
    let mut buffer = [0u8; BATCH];
    while out.len() < length {
        fill(&mut buffer)?;
        for &byte in &buffer {
            let byte = usize::from(byte);
            if byte < limit {
                out.push(char::from(alphabet[byte % size]));
                if out.len() == length {
                    break;
                }
            }
        }
    }
    // Best effort: do not leave the raw bytes of the value on the stack.
    buffer.fill(0);
    std::hint::black_box(&buffer);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotate::config::Charset;

    fn spec(length: usize, charset: Charset, template: Option<&str>) -> RandomSpec {
        RandomSpec {
            length,
            charset,
            template: template.map(str::to_owned),
            verify_command: None,
            verify_env: Vec::new(),
        }
    }

    /// A byte source that counts 0, 1, ..., 255, 0, ... so each byte value comes up equally.
    fn counting() -> impl FnMut(&mut [u8]) -> Result<(), String> {
        let mut next: u8 = 0;
        move |buffer: &mut [u8]| {
            for byte in buffer {
                *byte = next;
                next = next.wrapping_add(1);
            }
            Ok(())
        }
    }

    fn counts(alphabet: &[u8], text: &str) -> Vec<usize> {
        let mut counts = vec![0usize; alphabet.len()];
        for byte in text.bytes() {
            let index = alphabet
                .iter()
                .position(|&symbol| symbol == byte)
                .expect("every character comes from the alphabet");
            counts[index] += 1;
        }
        counts
    }

    #[test]
    fn values_have_the_length_and_charset_asked_for() {
        for charset in Charset::ALL {
            for length in [MIN_LENGTH, 40, MAX_LENGTH] {
                let value = random_value(&spec(length, charset, None)).unwrap();
                let text = value.expose();
                assert_eq!(text.len(), length, "{charset}");
                assert!(
                    text.bytes().all(|b| charset.alphabet().contains(&b)),
                    "{charset}: a character outside the charset"
                );
            }
        }
    }

    #[test]
    fn charsets_are_the_documented_ranges() {
        let draw = |charset| random_value(&spec(MAX_LENGTH, charset, None)).unwrap();
        assert!(draw(Charset::Alphanumeric)
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
        assert!(draw(Charset::Base64Url)
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(draw(Charset::Hex)
            .expose()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(draw(Charset::AsciiPrintable)
            .expose()
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b)));
    }

    #[test]
    fn the_template_receives_the_random_part() {
        let value = random_value(&spec(24, Charset::Hex, Some("sk_live_{random}_v1"))).unwrap();
        let text = value.expose();
        assert!(text.starts_with("sk_live_"));
        assert!(text.ends_with("_v1"));
        let random = &text["sk_live_".len()..text.len() - "_v1".len()];
        assert_eq!(random.len(), 24);
        assert!(random.bytes().all(|b| Charset::Hex.alphabet().contains(&b)));
        assert!(!text.contains(RANDOM_PLACEHOLDER));
    }

    #[test]
    fn invalid_specs_are_refused() {
        for length in [0, MIN_LENGTH - 1, MAX_LENGTH + 1] {
            let error = random_value(&spec(length, Charset::Hex, None)).unwrap_err();
            assert!(error.contains("out of range"), "{error}");
        }
        for template in ["no placeholder", "{random}{random}"] {
            let error = random_value(&spec(32, Charset::Hex, Some(template))).unwrap_err();
            assert!(error.contains("exactly once"), "{error}");
        }
    }

    #[test]
    fn two_draws_differ() {
        for charset in Charset::ALL {
            let first = random_value(&spec(MIN_LENGTH, charset, None)).unwrap();
            let second = random_value(&spec(MIN_LENGTH, charset, None)).unwrap();
            // SecretValue's Debug is redacted, so a failure shows no value.
            assert_ne!(first, second, "{charset}");
        }
    }

    #[test]
    fn debug_does_not_show_the_value() {
        let value = random_value(&spec(40, Charset::Alphanumeric, Some("pw-{random}"))).unwrap();
        let debug = format!("{value:?}");
        assert!(!debug.contains(value.expose()));
        assert!(!debug.contains(&value.expose()[3..]));
        assert_eq!(debug, "SecretValue(<redacted>)");
    }

    #[test]
    fn rejection_sampling_gives_every_symbol_exactly_its_share() {
        // Over a whole cycle of byte values, each accepted symbol comes up exactly
        // `limit / size` times; `byte % size` without rejection would not (62 symbols: the
        // first 8 would come up 5 times, the others 4).
        for charset in Charset::ALL {
            let alphabet = charset.alphabet();
            let size = alphabet.len();
            let limit = 256 - 256 % size;
            let cycles = 3;
            let text = sample(alphabet, limit * cycles, &mut counting()).unwrap();
            let counts = counts(alphabet, &text);
            assert!(
                counts.iter().all(|&count| count == cycles * limit / size),
                "{charset}: {counts:?}"
            );
        }
    }

    #[test]
    fn rejected_bytes_are_skipped_and_errors_propagate() {
        // 248..=255 are rejected for 62 symbols; only byte 0 ('A') is accepted.
        let mut high_then_zero = |buffer: &mut [u8]| {
            for (i, byte) in buffer.iter_mut().enumerate() {
                *byte = if i % 2 == 0 { 255 } else { 0 };
            }
            Ok(())
        };
        let text = sample(Charset::Alphanumeric.alphabet(), 300, &mut high_then_zero).unwrap();
        assert_eq!(text.len(), 300);
        assert!(text.bytes().all(|b| b == b'A'));

        let mut broken = |_: &mut [u8]| Err("no entropy".to_string());
        let result = sample(Charset::Hex.alphabet(), 16, &mut broken);
        assert!(matches!(result, Err(e) if e == "no entropy"));
    }

    /// Draws `samples` symbols from the OS CSPRNG and checks that every symbol's count is
    /// within 10% of the mean and that the chi-square statistic is far from suspicious. The
    /// thresholds sit more than 5 standard deviations out, so a fair generator does not fail
    /// (odds below one in a million per run), while modulo bias (25% to 50% excess on some
    /// symbols) fails both checks.
    fn assert_uniform(charset: Charset, samples: usize) {
        let alphabet = charset.alphabet();
        let text = sample(alphabet, samples, &mut os_random).unwrap();
        let counts = counts(alphabet, &text);
        let mean = samples as f64 / alphabet.len() as f64;
        for (symbol, &count) in alphabet.iter().zip(&counts) {
            let deviation = (count as f64 - mean).abs() / mean;
            assert!(
                deviation < 0.10,
                "{charset}: symbol {:?} came up {count} times, mean {mean:.0}",
                char::from(*symbol)
            );
        }
        let chi_square: f64 = counts
            .iter()
            .map(|&count| (count as f64 - mean).powi(2) / mean)
            .sum();
        // Degrees of freedom k - 1: mean k - 1, standard deviation sqrt(2 (k - 1)).
        let freedom = (alphabet.len() - 1) as f64;
        let threshold = freedom + 8.0 * (2.0 * freedom).sqrt();
        assert!(
            chi_square < threshold,
            "{charset}: chi-square {chi_square:.1} over {threshold:.1}"
        );
    }

    #[test]
    fn large_draws_show_no_bias() {
        assert_uniform(Charset::Alphanumeric, 200_000);
        // 94 symbols reject the most bytes (68 of 256); more samples keep the ±10% band as
        // wide in standard deviations as for 62 symbols.
        assert_uniform(Charset::AsciiPrintable, 500_000);
        assert_uniform(Charset::Hex, 100_000);
    }
}
