//! Record decoding on arbitrary bytes: never panics; what decodes re-encodes
//! to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesh::record::SessionRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = SessionRecord::<Vec<u8>>::decode(data) {
        let again = SessionRecord::<Vec<u8>>::decode(&record.to_vec().unwrap_or_default());
        assert_eq!(again.as_ref().ok(), Some(&record));
    }
    let _ = SessionRecord::<(u32, heapless::String<8>, Option<bool>)>::decode(data);
});
