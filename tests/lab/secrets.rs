//! Values for the plan's secrets. In production Terraform supplies them
//! (`random_password`, variables, files); the lab generates its own, with
//! the length and character set the plan asks of a generated value.

use std::collections::BTreeMap;
use std::io::Read;

/// Secret id -> value.
pub struct Secrets(BTreeMap<String, String>);

impl Secrets {
    /// A fresh random value for every secret of the plan.
    pub fn generate(plan: &rmqgen::Plan) -> Secrets {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut urandom = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
        let mut map = BTreeMap::new();
        for s in &plan.secrets {
            let len = s.length.max(16) as usize;
            let mut value = String::with_capacity(len);
            let mut buf = [0u8; 64];
            // Rejection sampling keeps the characters uniform; bounded.
            for _ in 0..1000 {
                if value.len() >= len {
                    break;
                }
                urandom.read_exact(&mut buf).expect("read /dev/urandom");
                for b in buf {
                    if value.len() < len && (b as usize) < 256 - 256 % ALNUM.len() {
                        value.push(ALNUM[b as usize % ALNUM.len()] as char);
                    }
                }
            }
            assert_eq!(value.len(), len, "not enough randomness for {}", s.id);
            map.insert(s.id.clone(), value);
        }
        Secrets(map)
    }

    /// The value of a secret.
    pub fn get(&self, id: &str) -> &str {
        self.0
            .get(id)
            .unwrap_or_else(|| panic!("the plan has no secret {id}"))
    }
}
