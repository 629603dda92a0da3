//! The subset of Go's `encoding/csv` the real tools' flag parsing relies on.
//!
//! pflag splits slice flags (`--security a,b`) and multi-pair `--env` values
//! with a CSV reader, and `--mount` specs are CSV records; quoting therefore
//! works the way Go's reader does it with default settings: `,` separates
//! fields, a field that starts with `"` is quoted (`""` is a literal quote),
//! a quote inside an unquoted field is an error, newlines separate records
//! and blank lines are skipped, and every record must have as many fields as
//! the first.

/// Parse all records of `input`.
pub fn read_records(input: &str) -> Result<Vec<Vec<String>>, String> {
    parse(input, usize::MAX)
}

/// Parse the first record of `input`, as pflag does for slice values (Go's
/// `Reader.Read` never looks past it). An empty input gives no fields.
pub fn read_first(input: &str) -> Result<Vec<String>, String> {
    Ok(parse(input, 1)?.into_iter().next().unwrap_or_default())
}

fn parse(input: &str, max_records: usize) -> Result<Vec<Vec<String>>, String> {
    let input = input.replace("\r\n", "\n");
    let mut chars = input.chars().peekable();
    let mut records: Vec<Vec<String>> = Vec::new();

    while chars.peek().is_some() && records.len() < max_records {
        // Blank lines are not records.
        if chars.peek() == Some(&'\n') {
            chars.next();
            continue;
        }
        let mut record = Vec::new();
        loop {
            let mut field = String::new();
            let ended_record;
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err("extraneous or missing \" in quoted-field".into()),
                        Some('"') => match chars.peek() {
                            Some('"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some(',') => {
                                chars.next();
                                ended_record = false;
                                break;
                            }
                            Some('\n') => {
                                chars.next();
                                ended_record = true;
                                break;
                            }
                            None => {
                                ended_record = true;
                                break;
                            }
                            Some(_) => {
                                return Err("extraneous or missing \" in quoted-field".into());
                            }
                        },
                        Some(c) => field.push(c),
                    }
                }
            } else {
                loop {
                    match chars.next() {
                        None | Some('\n') => {
                            ended_record = true;
                            break;
                        }
                        Some(',') => {
                            ended_record = false;
                            break;
                        }
                        Some('"') => return Err("bare \" in non-quoted-field".into()),
                        Some(c) => field.push(c),
                    }
                }
            }
            record.push(field);
            if ended_record {
                break;
            }
        }
        if let Some(first) = records.first()
            && first.len() != record.len()
        {
            return Err("wrong number of fields".into());
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_plain_fields() {
        assert_eq!(read_first("a,b,,c").unwrap(), s(&["a", "b", "", "c"]));
        assert_eq!(read_first("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        assert_eq!(
            read_first(r#""src=/a,b",dst=/m,"x""y""#).unwrap(),
            s(&["src=/a,b", "dst=/m", "x\"y"])
        );
    }

    #[test]
    fn quote_errors_like_go() {
        assert!(read_first("a\"b").unwrap_err().contains("bare"));
        assert!(read_first("\"ab\"c").unwrap_err().contains("extraneous"));
        assert!(read_first("\"ab").unwrap_err().contains("extraneous"));
    }

    #[test]
    fn records_are_lines_with_equal_field_counts() {
        assert_eq!(
            read_records("a,b\n\nc,d\n").unwrap(),
            vec![s(&["a", "b"]), s(&["c", "d"])]
        );
        assert!(read_records("a,b\nc").unwrap_err().contains("wrong number"));
        assert_eq!(read_first("a,b\nc").unwrap(), s(&["a", "b"]));
    }
}
