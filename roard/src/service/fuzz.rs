//! Property tests (a bounded fuzzing harness that runs with the suite): arbitrary
//! bytes decoded as every request, and what decodes fed to the validation each
//! handler does first. None of it may panic; bad input must become an error.

use proptest::prelude::*;
use prost::Message;
use roar_proto::pb;

use crate::store::input::JobSelector;
use crate::store::input::parse_hash_prefix;

fn check_selector(text: &str) {
    let _ = JobSelector::parse(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_request_decodes_or_fails_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(request) = pb::RunRequest::decode(bytes.as_slice()) {
            let _ = super::run::validate(&request, Some(1));
            let _ = super::run::validate(&request, None);
        }
        if let Ok(request) = pb::GetJobRequest::decode(bytes.as_slice()) {
            check_selector(&request.selector);
            let _ = super::project_of(&request.cwd);
        }
        if let Ok(request) = pb::GetArtifactRequest::decode(bytes.as_slice())
            && let Some(pb::get_artifact_request::By::Hash(text)) = &request.by
        {
            let _ = parse_hash_prefix(text);
        }
        if let Ok(request) = pb::GetLineageRequest::decode(bytes.as_slice()) {
            if let Some(pb::get_lineage_request::Target::Job(text)) = &request.target {
                check_selector(text);
            }
            if let Some(pb::get_lineage_request::Target::Hash(text)) = &request.target {
                let _ = parse_hash_prefix(text);
            }
            let _ = super::project_of(&request.cwd);
        }
        for cwd in [
            pb::ListJobsRequest::decode(bytes.as_slice()).map(|r| r.project_of),
            pb::GetDagRequest::decode(bytes.as_slice()).map(|r| r.cwd),
            pb::GetSessionRequest::decode(bytes.as_slice()).map(|r| r.cwd),
            pb::ResetSessionRequest::decode(bytes.as_slice()).map(|r| r.cwd),
            pb::PopStepRequest::decode(bytes.as_slice()).map(|r| r.cwd),
        ]
        .into_iter()
        .flatten()
        {
            let _ = super::project_of(&cwd);
        }
        let _ = pb::HashFilesRequest::decode(bytes.as_slice());
        let _ = pb::RecordDownloadRequest::decode(bytes.as_slice());
        let _ = pb::RecordUploadsRequest::decode(bytes.as_slice());
        let _ = pb::TagLineageRequest::decode(bytes.as_slice());
    }

    #[test]
    fn selectors_and_hash_prefixes_never_panic(text in ".{0,40}") {
        check_selector(&text);
        let _ = parse_hash_prefix(&text);
    }

    #[test]
    fn path_handling_never_panics(path in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut absolute = b"/".to_vec();
        absolute.extend_from_slice(&path);
        let _ = crate::tracer::paths::canonical_name(&absolute);
        let rules = crate::classify::Rules::new(
            &roar_proto::config::FilterConfig::default(),
            &crate::classify::JobEnv::default(),
        );
        let mut classifier = crate::classify::Classifier::new(&rules, None);
        let _ = classifier.classify(&absolute);
    }
}
