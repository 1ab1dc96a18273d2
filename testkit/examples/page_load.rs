//! Opens HTML pages in a headless Chromium over CDP, one fresh browser per
//! page, and prints for each: seconds to the load event, the requests it
//! made besides itself, and the number of DOM elements. bench/html.sh uses it.
//!
//!   cargo run --release -p testkit --example page_load -- PAGE.html [MORE.html…]
//!
//! With `SHOT=FILE.png` in the environment, the first page's screenshot
//! (the top 1,600 pixels) is written there.

fn main() {
    let pages: Vec<String> = std::env::args().skip(1).collect();
    if pages.is_empty() {
        eprintln!("usage: page_load PAGE.html [MORE.html…]");
        std::process::exit(2);
    }
    let mut shot = std::env::var_os("SHOT");
    for p in pages {
        let path = std::path::Path::new(&p);
        let mut b = testkit::browser::Browser::start();
        let load = b.open(path);
        let me = format!("file://{}", path.canonicalize().unwrap().display());
        let others = load.requests.iter().filter(|u| **u != me).count();
        let elements = b.eval(
            "document.getElementsByTagName('*').length + \
             [...document.querySelectorAll('iframe')].reduce((n, f) => \
               n + (f.contentDocument ? f.contentDocument.getElementsByTagName('*').length : 0), 0)",
        );
        if let Some(out) = shot.take() {
            b.screenshot(std::path::Path::new(&out), 1600);
        }
        println!(
            "{p}: load {:.3} s, {others} other requests, {elements} elements",
            load.elapsed.as_secs_f64()
        );
    }
}
