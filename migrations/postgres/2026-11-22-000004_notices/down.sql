DROP TABLE notice_recipients;
DROP TABLE notice_consents;
DROP TABLE notices;
