//! Acknowledgements (HL7 v2.5 §2.9).
