DROP TABLE notice_versions;
