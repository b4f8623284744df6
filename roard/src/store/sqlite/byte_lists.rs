//! NUL-separated lists of byte strings: how argv and environments are stored. No
//! element can contain NUL (the kernel passes them as C strings), so this is lossless.

pub fn join(items: &[Vec<u8>]) -> Vec<u8> {
    items.join(&0u8)
}

pub fn split(blob: &[u8]) -> Vec<Vec<u8>> {
    if blob.is_empty() {
        return Vec::new();
    }
    blob.split(|b| *b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_including_empty_elements() {
        let items = vec![b"a b".to_vec(), Vec::new(), vec![0xff, b'\n']];
        assert_eq!(super::split(&super::join(&items)), items);
        assert!(super::split(&super::join(&[])).is_empty());
    }
}
