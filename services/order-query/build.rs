// embed_migrations! reads the folder at compile time; without this, a new migration folder would
// not rebuild the binary and it would start without it.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/order_query");
}
