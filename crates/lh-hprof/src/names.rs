//! Class names as Java source spells them, which is what users search for:
//! `java/util/HashMap$Node` becomes `java.util.HashMap$Node`, `[[I` becomes `int[][]`.

/// The Java name of an HPROF basic type code.
pub(crate) fn primitive(ty: u8) -> &'static str {
    match ty {
        4 => "boolean",
        5 => "char",
        6 => "float",
        7 => "double",
        8 => "byte",
        9 => "short",
        10 => "int",
        11 => "long",
        _ => "object",
    }
}

/// Converts a JVM internal class name (`java/lang/String`, `[Ljava/lang/Object;`,
/// `[[I`) to source form; names already in source form pass unchanged.
pub fn java_name(raw: &str) -> String {
    let dims = raw.bytes().take_while(|b| *b == b'[').count();
    if dims == 0 {
        return raw.replace('/', ".");
    }
    let d = &raw[dims..];
    let elem = match d {
        "Z" => "boolean".to_string(),
        "B" => "byte".to_string(),
        "C" => "char".to_string(),
        "S" => "short".to_string(),
        "I" => "int".to_string(),
        "J" => "long".to_string(),
        "F" => "float".to_string(),
        "D" => "double".to_string(),
        _ => d
            .strip_prefix('L')
            .and_then(|r| r.strip_suffix(';'))
            .unwrap_or(d)
            .replace('/', "."),
    };
    format!("{elem}{}", "[]".repeat(dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_form() {
        assert_eq!(
            java_name("java/util/HashMap$Node"),
            "java.util.HashMap$Node"
        );
        assert_eq!(java_name("[Ljava/lang/Object;"), "java.lang.Object[]");
        assert_eq!(java_name("[[I"), "int[][]");
        assert_eq!(java_name("java.lang.String"), "java.lang.String");
    }
}
